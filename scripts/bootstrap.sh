#!/usr/bin/env bash
# Installs what `make run` and `make test` need: the Debian servers (when missing) and
# the Python virtualenv pinned by requirements-dev.lock (which includes requirements.lock).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}

missing_packages() {
  local python=$1 purpose=$2 missing=()
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v postgres >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/postgres" \
    >/dev/null || missing+=(postgresql)
  # The tests open the /docs page in a headless browser and smoke-run the benchmark.
  if [ "$purpose" = test ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    # The services are tested through PgBouncer in transaction mode, as a cluster runs them.
    [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
    # deploy/observability is checked by promtool and scraped by a real Prometheus.
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    # The Postman collection is run by newman, from the npm registry (clients/).
    command -v npm >/dev/null 2>&1 || missing+=(npm)
  fi
  # Debian splits venv's pip bootstrap out of the interpreter.
  [ -x "$VENV/bin/python" ] || "$python" -c 'import ensurepip' 2>/dev/null \
    || missing+=(python3.11-venv)
  echo "${missing[@]:-}"
}

install_packages() {
  local missing
  missing=$(missing_packages "$1" "$2")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: $missing" >&2
    echo "Install them, then run make again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 1
  fi
  echo "==> apt-get install $missing"
  apt-get update -qq
  # The packages would start system-wide servers (on all interfaces, outliving us); we
  # start our own on loopback instead, so tell their init scripts not to (policy-rc.d).
  local policy=/usr/sbin/policy-rc.d added_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
    || { [ -n "$added_policy" ] && rm -f "$policy"; exit 1; }
  [ -n "$added_policy" ] && rm -f "$policy"
  return 0
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
  local python=$1 stamp="$VENV/.installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt requirements.lock ] \
    && [ "$stamp" -nt requirements-dev.lock ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$python" -m venv "$VENV"
  fi
  echo "==> pip install -r requirements-dev.lock"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements-dev.lock
  touch "$stamp"
}

# The tools the tests run as commands (checkov), apart: their pins clash with ours.
install_tools() {
  local python=$1 tools=.venv-tools stamp=.venv-tools/.installed
  if [ -f "$stamp" ] && [ "$stamp" -nt requirements-tools.lock ]; then
    return 0
  fi
  echo "==> pip install -r requirements-tools.lock (into $tools)"
  [ -x "$tools/bin/python" ] || "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements-tools.lock
  touch "$stamp"
}

# newman, pinned by clients/package-lock.json, into clients/node_modules.
install_newman() {
  local stamp=clients/node_modules/.installed
  if [ -f "$stamp" ] && [ "$stamp" -nt clients/package-lock.json ]; then
    return 0
  fi
  echo "==> npm ci (newman, into clients/node_modules)"
  npm ci --prefix clients --no-audit --no-fund --loglevel=error >/dev/null
  touch "$stamp"
}

PURPOSE=${1:-run}  # run, or test (which also needs a browser)
PYTHON_BIN=$(find_python)
install_packages "$PYTHON_BIN" "$PURPOSE"
if [ "$PURPOSE" = test ]; then
  # Beside the main virtualenv, not after it: on a fresh clone each takes about a minute.
  install_tools "$PYTHON_BIN" &
  tools=$!
  install_newman &
  newman=$!
fi
install_venv "$PYTHON_BIN"
if [ "$PURPOSE" = test ]; then
  wait "$tools"
  wait "$newman"
fi
