"""Databases for one test: PostgreSQL schemas when `make test` gives a server, else SQLite.

Each test gets a schema per service (fast to make and drop) on the test server, and the
tables its models describe; migrations are proven separately (test_migrations.py).
"""

import importlib
import os
import uuid
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from shop.roster import BACKENDS


def postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


def sqlite_uris(folder) -> dict:
    return {f"{name}:Base": f"sqlite:///{folder}/{name}.db" for name in BACKENDS}


def postgres_uris(server_url: str, prefix: str) -> dict:
    return {f"{name}:Base": f"{server_url}?options={quote(f'-csearch_path={prefix}_{name}')}"
            for name in BACKENDS}


def create_tables(uris: dict) -> None:
    for key, url in uris.items():
        service = key.split(":")[0]
        base = importlib.import_module(f"{service}.models").Base
        engine = create_engine(url, poolclass=NullPool)
        base.metadata.create_all(engine)
        engine.dispose()


class ScratchDatabases:
    """The DB_URIS of one test, made on entry and dropped on exit."""

    def __init__(self, folder, make_tables: bool = True, server: str | None = None):
        self.make_tables = make_tables
        self.server = server
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.uris = (postgres_uris(self.server, self.prefix) if self.server
                     else sqlite_uris(folder))

    @classmethod
    def on_test_server(cls, folder, make_tables: bool = True) -> "ScratchDatabases":
        """PostgreSQL when make test gave a server, else SQLite files."""
        return cls(folder, make_tables, postgres_url())

    @classmethod
    def sqlite(cls, folder) -> "ScratchDatabases":
        return cls(folder)

    def __enter__(self) -> dict:
        if self.server:
            self._run(*(f'CREATE SCHEMA "{self.prefix}_{name}"' for name in BACKENDS))
        if self.make_tables:
            create_tables(self.uris)
        return self.uris

    def __exit__(self, *exc_info) -> None:
        if self.server:
            self._run(*(f'DROP SCHEMA IF EXISTS "{self.prefix}_{name}" CASCADE'
                        for name in BACKENDS))

    def _run(self, *statements: str) -> None:
        assert self.server is not None, "only PostgreSQL scratch databases run statements"
        engine = create_engine(self.server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
        engine.dispose()
