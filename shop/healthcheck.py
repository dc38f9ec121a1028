"""A container healthcheck: exit 0 when the named service answers, else 1.

    python -m shop.healthcheck users      # an RPC to users.health over the broker
    python -m shop.healthcheck gateway    # GET /health on WEB_SERVER_ADDRESS
"""

from __future__ import annotations

import os
import sys
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 3


def gateway_answers(config: dict[str, Any]) -> bool:
    host, _, port = str(config["WEB_SERVER_ADDRESS"]).rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=TIMEOUT_SECONDS) as reply:
        return bool(reply.status == 200)


def service_answers(config: dict[str, Any], service: str) -> bool:
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy(config, timeout=TIMEOUT_SECONDS) as cluster:
        return bool(getattr(cluster, service).health() == {"status": "ok"})


def main(service: str) -> int:
    from shop.config import load_config

    config = load_config(os.environ.get("NAMEKO_CONFIG", "config.yml"))
    try:
        healthy = (gateway_answers(config) if service == "gateway"
                   else service_answers(config, service))
    except Exception as error:  # any failure is simply "not healthy"
        print(f"{service}: {error}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
