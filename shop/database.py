"""SQL access for the services: nameko-sqlalchemy's Database, sized and tuned at start-up.

Tables are made by each service's migrations (`python -m shop.migrate`), not here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import nameko_sqlalchemy
from marshmallow import Schema
from nameko.containers import WorkerContext
from sqlalchemy import (
    Connection,
    Executable,
    Insert,
    Row,
    Select,
    Table,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session

from shop.schemas import no_such, page_of, parse_id
from shop.settings import Settings, at_least, settings_of

SQLITE_BUSY_TIMEOUT_SECONDS = 15

log = logging.getLogger(__name__)
Model = TypeVar("Model")


class DatabaseWrapper(nameko_sqlalchemy.database.DatabaseWrapper):
    """A worker's `self.db`, three ways into one pool:
    - `.session`: the ORM, opened when first used (the cold paths);
    - `.engine`: SQLAlchemy Core, `with db.engine.begin()` for statements that must
      commit together;
    - `.autocommit`: Core for statements that each stand alone (reads, single-row
      writes): no BEGIN before them and no COMMIT or ROLLBACK after, each a round trip
      to the server that the hot paths do not pay. `.first()` and `.page()` read here.
    """

    def __init__(self, session_factory: Callable[[], Session], engine: Engine,
                 autocommit: Engine | None = None) -> None:
        super().__init__(session_factory)
        self.engine = engine
        self.autocommit = autocommit or autocommit_engine(engine)

    def get(self, model: type[Model], raw_id: Any, what: str) -> Model:
        """The ORM row of model with that id, or NotFound naming what was asked for."""
        row: Model | None = self.session.get(model, parse_id(raw_id, what))
        if row is None:
            raise no_such(what, raw_id)
        return row

    def first(self, statement: Executable, **params: Any) -> Row[Any] | None:
        with self.autocommit.connect() as connection:
            return connection.execute(statement, params).first()

    def all(self, statement: Executable, **params: Any) -> list[Row[Any]]:
        with self.autocommit.connect() as connection:
            return list(connection.execute(statement, params).all())

    def page(self, matching: Select[Any], order_by: tuple[Any, ...], paging: dict[str, Any],
             schema: Schema) -> dict[str, Any]:
        """One page of matching rows, dumped with schema (a Core row's columns by name),
        with the total count; on one connection, no ORM objects."""
        with self.autocommit.connect() as connection:
            total = connection.scalar(
                select(func.count()).select_from(matching.subquery())) or 0
            rows = connection.execute(matching.order_by(*order_by)
                                      .offset((paging["page"] - 1) * paging["limit"])
                                      .limit(paging["limit"]))
            items = schema.dump([row._mapping for row in rows], many=True)
        return page_of(items, paging["page"], paging["limit"], total)


@dataclasses.dataclass(frozen=True)
class DatabaseSettings(Settings):
    """The size of each of a service process's two pools (transactions, autocommit):
    DB_POOL_SIZE connections kept, DB_MAX_OVERFLOW more opened at a peak and closed
    after. A worker that finds a pool exhausted waits DB_POOL_TIMEOUT_SECONDS for a
    connection, then its caller is told 503."""

    db_pool_size: int = dataclasses.field(metadata=at_least(1))
    db_max_overflow: int = dataclasses.field(metadata=at_least(0))
    db_pool_timeout_seconds: float = dataclasses.field(metadata=at_least(0.001))


class Database(nameko_sqlalchemy.Database):
    """A Database whose pools are sized by DB_POOL_SIZE, on a driver that never blocks
    the hub.

    The pools are smaller than max_workers: a process keeps at most
    2 × (DB_POOL_SIZE + DB_MAX_OVERFLOW) connections, so replicas × services fit the
    server's max_connections (or PgBouncer's pool), and a worker holds a connection only
    while it talks to the database. An autocommit connection is never held while
    waiting for another, so the two pools cannot wait on each other. Connections are
    opened only as workers need them. No ping per checkout: a connection the server dropped
    fails its statement (a 503 to that one caller) and SQLAlchemy then discards every
    connection older than the failure. psycopg2 is made green (psycogreen): a slow
    query makes its worker wait, not the whole process. A SQLite file gets its folder
    created, WAL journaling (readers do not block the writer) and a busy timeout for
    other processes.
    """

    if TYPE_CHECKING:  # what a worker finds in the attribute: nameko injects it
        def __get__(self, instance: object,
                    owner: type | None = None) -> DatabaseWrapper: ...

    def setup(self) -> None:
        pool = settings_of(self.container, DatabaseSettings)
        self.engine_options: dict[str, Any] = {
            "pool_size": pool.db_pool_size,
            "max_overflow": pool.db_max_overflow,
            "pool_timeout": pool.db_pool_timeout_seconds,
            **self.engine_options,
        }
        uri = self.container.config["DB_URIS"][self._uri_key]
        url = make_url(uri)
        if url.get_backend_name() == "postgresql":
            make_psycopg2_green()
        if url.get_backend_name() == "sqlite":
            self.engine_options.setdefault(
                "connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        super().setup()
        # A pool of its own whose connections stay in autocommit: switching a pooled
        # connection in and out of it costs psycopg2 a call that blocks the process.
        self.autocommit = create_engine(self.db_uri, isolation_level="AUTOCOMMIT",
                                        **self.engine_options)
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _tune_sqlite)
            event.listen(self.autocommit, "connect", _tune_sqlite)

    def stop(self) -> None:
        self.autocommit.dispose()
        super().stop()

    def kill(self) -> None:
        self.autocommit.dispose()
        super().kill()

    def get_dependency(self, worker_ctx: WorkerContext) -> DatabaseWrapper:
        db = DatabaseWrapper(self.Session, self.engine, self.autocommit)
        self.dbs[worker_ctx] = db
        return db

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        """Closes the worker's session. When the database went away mid-transaction the
        closing rollback fails too; that must cost the dead connection (SQLAlchemy drops
        it from the pool), not the service: nameko kills a container whose teardown
        raises."""
        try:
            super().worker_teardown(worker_ctx)
        except DBAPIError as error:
            log.warning("could not close a database session: %s",
                        str(error).splitlines()[0][:200])

    @property
    def _uri_key(self) -> str:
        return f"{self.container.service_name}:{self.declarative_base.__name__}"


def autocommit_engine(engine: Engine) -> Engine:
    """The same pool, each statement its own transaction (for tests and tools; services
    get an autocommit pool of their own)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def make_psycopg2_green() -> None:
    """Lets psycopg2 wait for the server through eventlet (idempotent)."""
    import psycogreen.eventlet
    import psycopg2.extensions

    if psycopg2.extensions.get_wait_callback() is None:
        psycogreen.eventlet.patch_psycopg()


def _tune_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def insert_unless_present(connection: Connection, table: Table | type[DeclarativeBase]) -> Insert:
    """An INSERT that skips a row whose key is taken (rowcount 0) instead of failing,
    which on PostgreSQL would abort the whole transaction; a concurrent insert of the
    same key waits for the first to commit or roll back."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[connection.dialect.name]
    statement: Insert = dialect.insert(table).on_conflict_do_nothing()
    return statement


def fetch_page(session: Session, matching: Select[Any], order_by: tuple[Any, ...],
               paging: dict[str, Any], schema: type[Schema]) -> dict[str, Any]:
    """One page of matching rows, dumped with schema, with the total count."""
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    rows = session.scalars(matching.order_by(*order_by)
                           .offset((paging["page"] - 1) * paging["limit"])
                           .limit(paging["limit"]))
    return page_of(schema(many=True).dump(rows), paging["page"], paging["limit"], total)


def table_of(model: type[DeclarativeBase]) -> Table:
    """A mapped class's Table, for SQLAlchemy Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
