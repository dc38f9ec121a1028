"""The probes a scheduler runs in a service's container: exit 0 if it passes, else 1.

    python -m shop.healthcheck users            # liveness: its heartbeat is fresh
    python -m shop.healthcheck users --ready    # readiness: and it consumes from the broker
    python -m shop.healthcheck gateway --ready  # the gateway: GET /health answers 200

Liveness reads the heartbeat files that every process of the service writes
(shop/liveness.py), so it neither asks the broker nor leaves a queue behind, and a broker
outage does not fail every pod at once. It imports only the standard library: it runs
every few seconds. LIVENESS_DIR, RUN_DIR and WEB_SERVER_ADDRESS are read as config.yml
reads them (a unit test holds the two to the same defaults).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 3


def liveness_dir(env: dict[str, str]) -> Path:
    return Path(env.get("LIVENESS_DIR") or f"{env.get('RUN_DIR', '.run')}/live")


def web_server_address(env: dict[str, str]) -> str:
    return env.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: running
        return True
    return True


def heartbeats(directory: Path, service: str) -> list[dict[str, Any]]:
    """The heartbeats of the service's running processes (a dead one's file is ignored)."""
    found = []
    for path in sorted(directory.glob(f"{service}.*.json")):
        try:
            heartbeat = json.loads(path.read_text())
        except (OSError, ValueError):  # gone or replaced while read: the next probe sees it
            continue
        if is_running(int(heartbeat["pid"])):
            found.append(heartbeat)
    return found


def check(service: str, ready: bool, env: dict[str, str], now: float) -> str | None:
    """What fails, or None when the probe passes."""
    if service == "gateway" and ready:
        return gateway_health(web_server_address(env))
    beats = heartbeats(liveness_dir(env), service)
    if not beats:
        return f"no running {service} process has written a heartbeat in {liveness_dir(env)}"
    for beat in beats:
        if now > beat["stale_after"]:
            return f"{service} process {beat['pid']} last beat {now - beat['at']:.0f} s ago"
        if ready and not beat["consuming"]:
            return f"{service} process {beat['pid']} is not consuming from the broker"
    return None


def gateway_health(address: str) -> str | None:
    host, _, port = address.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health",
                                    timeout=TIMEOUT_SECONDS) as reply:
            return None if reply.status == 200 else f"/health answered {reply.status}"
    except OSError as error:  # refused, timed out, or an HTTP error status (draining)
        return f"/health: {error}"


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-") or set(argv[1:]) - {"--ready"}:
        print("usage: python -m shop.healthcheck <service> [--ready]", file=sys.stderr)
        return 2
    failure = check(argv[0], "--ready" in argv, dict(os.environ), time.time())
    if failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
