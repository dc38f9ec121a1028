"""Makes an existing account an admin, without the shell: `make admin EMAIL=...`.

    python -m users.admin ada@example.com      # the services must be running

It asks the users service over RPC (find_user, then set_role), as `nameko shell` would,
with the broker and timeouts of config.yml. The role takes effect on the account's
tokens at once (a role change is an account change: tokens follow it).
"""

from __future__ import annotations

import argparse
import os
import sys

from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from shop.config import load_config

TIMEOUT_SECONDS = 10


def promote(config: dict, email: str) -> dict:
    with ClusterRpcProxy(config, timeout=TIMEOUT_SECONDS) as cluster:
        user = cluster.users.find_user(email)
        return dict(cluster.users.set_role(user["id"], "admin"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m users.admin",
                                     description="Make an existing account an admin.")
    parser.add_argument("email")
    parser.add_argument("--config", default=os.environ.get("NAMEKO_CONFIG", "config.yml"))
    args = parser.parse_args(argv)
    try:
        user = promote(load_config(args.config), args.email)
    except RemoteError as error:  # NotFound, InvalidInput: the service's own words
        print(f"{error.exc_type}: {error.value}", file=sys.stderr)
        return 1
    except Exception as error:  # no broker, no users service: say so, briefly
        print(f"could not reach the users service: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 1
    print(f"{user['email']} ({user['id']}) is now an admin")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
