"""Each service's schema migrations (Alembic), with the database URL from the services' config.

    python -m shop.migrate                      # upgrade every service's database
    python -m shop.migrate users orders         # just these
    python -m shop.migrate --new "add x" users  # write a new revision from the models

`make run` runs the first before it starts the services; so do the compose services.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from shop.config import load_config
from shop.roster import BACKENDS


def database_url(config: dict[str, Any], service: str) -> str:
    return str(config["DB_URIS"][f"{service}:Base"])


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{service}:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(service: str, url: str) -> None:
    ensure_sqlite_folder(url)
    command.upgrade(alembic_config(service, url), "head")


def ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def run_migrations(metadata: MetaData) -> None:
    """What every service's migrations/env.py does: migrate the configured database."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic_config() sets sqlalchemy.url"
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        # Batch mode lets SQLite, which cannot ALTER most things, take the same scripts.
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", nargs="*", choices=[[], *BACKENDS], default=[])
    parser.add_argument("--config", default=os.environ.get("NAMEKO_CONFIG", "config.yml"))
    parser.add_argument("--new", metavar="MESSAGE", help="autogenerate a revision")
    args = parser.parse_args()
    config = load_config(args.config)
    for service in args.services or BACKENDS:
        url = database_url(config, service)
        if args.new:
            importlib.import_module(f"{service}.models")
            upgrade(service, url)
            command.revision(alembic_config(service, url), message=args.new, autogenerate=True)
        else:
            upgrade(service, url)
            print(f"{service}: migrated")


if __name__ == "__main__":
    main()
