#!/usr/bin/env bash
# Installs what `make run` and `make test` need: the Debian servers (when missing) and
# the Python virtualenv pinned by requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
APT_PACKAGES=(rabbitmq-server redis-server)

missing_servers() {
  local missing=()
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 \
    || missing+=(rabbitmq-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  echo "${missing[@]:-}"
}

install_servers() {
  local missing
  missing=$(missing_servers)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: $missing" >&2
    echo "Install them, then run make again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${APT_PACKAGES[*]}" >&2
    exit 1
  fi
  echo "==> apt-get install $missing"
  apt-get update -qq
  # The packages' own init scripts would start system-wide servers; we start our own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)." >&2
  exit 1
}

install_venv() {
  local stamp="$VENV/.installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt requirements.lock ]; then
    return 0
  fi
  local python
  python=$(find_python)
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$python" -m venv "$VENV" || {
      echo "venv failed; on Debian: apt-get install -y python3.11-venv" >&2; exit 1; }
  fi
  echo "==> pip install -r requirements.lock"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.lock
  touch "$stamp"
}

install_servers
install_venv
