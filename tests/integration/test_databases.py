"""The database layer: migrations match the models, PostgreSQL never blocks the hub, and
the SQLite default still runs the system."""

import importlib
import time

import eventlet
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from shop.entrypoints import rpc
from shop.errors import ServiceUnavailable
from shop.migrate import upgrade
from shop.roster import BACKENDS
from tests.databases import ScratchDatabases, postgres_url
from users.service import UsersService


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_and_models_never_drift_apart(tmp_path, backend):
    if backend == "postgresql" and not postgres_url():
        pytest.skip("no PostgreSQL server given (make test starts one)")
    server = postgres_url() if backend == "postgresql" else None
    with ScratchDatabases(tmp_path, make_tables=False, server=server) as uris:
        for service in BACKENDS:
            url = uris[f"{service}:Base"]
            upgrade(service, url)
            metadata = importlib.import_module(f"{service}.models").Base.metadata
            engine = create_engine(url, poolclass=NullPool)
            with engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), metadata)
            engine.dispose()
            assert diff == [], f"{service}: models and migrations differ: {diff}"


class SlowUsersService(UsersService):
    """The users service plus a method whose query takes a while."""

    @rpc
    def slow_query(self, seconds):
        self.db.session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
        return "done"


def test_a_slow_query_does_not_delay_another_request(container_factory, config):
    if not postgres_url():
        pytest.skip("no PostgreSQL server given (make test starts one)")
    container = container_factory(SlowUsersService, config)
    container.start()
    with entrypoint_hook(container, "slow_query") as slow_query, \
            entrypoint_hook(container, "health") as health:
        slow = eventlet.spawn(slow_query, 1.0)
        eventlet.sleep(0.1)  # the slow query is now waiting on the server
        started = time.monotonic()
        assert health() == {"status": "ok"}
        assert time.monotonic() - started < 0.3
        assert slow.wait() == "done"


def test_a_call_that_finds_every_connection_busy_is_answered_503_not_left_waiting(
        container_factory, config):
    if not postgres_url():
        pytest.skip("no PostgreSQL server given (make test starts one)")
    container = container_factory(SlowUsersService, {
        **config, "DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0, "DB_POOL_TIMEOUT_SECONDS": 0.2})
    container.start()
    with ClusterRpcProxy(config, timeout=5) as rpc:
        slow = rpc.users.slow_query.call_async(1.5)  # holds the pool's one connection
        eventlet.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            rpc.users.health()
        assert time.monotonic() - started < 1.0
        assert slow.result() == "done"
        assert rpc.users.health() == {"status": "ok"}  # the connection is back


def test_the_sqlite_default_runs_the_system(start_system, tmp_path):
    with ScratchDatabases.sqlite(tmp_path) as uris:
        api = start_system(DB_URIS=uris)[1]
        user, auth = api.user_with_token()
        assert api.http.get("/users/me", headers=auth).json()["id"] == user["id"]
        post = api.post(auth)
        assert api.http.get(f"/posts/{post['id']}").status_code == 200
