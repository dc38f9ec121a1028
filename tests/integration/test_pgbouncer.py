"""The services through PgBouncer in transaction mode, as a cluster runs them: the
migrations, orders, retried writes and the outbox work on server connections that change
hands between transactions, and the pool holds fewer server connections than the
services' own pools ask for.

Each service gets a database of its own (PgBouncer cannot pass the search_path option
the other tests' schemas use), made here and dropped after.
"""

import os
import shutil
import subprocess
import time
import uuid

import eventlet
import psycopg2
import pytest
from nameko.testing.utils import find_free_port
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from shop.migrate import upgrade
from shop.roster import BACKENDS
from tests.databases import postgres_url
from tests.integration.test_shop import notification_kinds, order_body, until

SERVER_CONNECTIONS_PER_DATABASE = 3
SERVER_STATES = ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def run_on_server(server_url, *statements):
    # CREATE DATABASE cannot run in a transaction.
    engine = create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture
def service_databases():
    server = postgres_url()
    if not server:
        pytest.skip("no PostgreSQL server given (make test starts one)")
    prefix = f"b{uuid.uuid4().hex[:10]}"
    names = {service: f"{prefix}_{service}" for service in BACKENDS}
    run_on_server(server, *(f'CREATE DATABASE "{name}"' for name in names.values()))
    yield make_url(server), names
    run_on_server(server, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                            for name in names.values()))


@pytest.fixture
def pgbouncer(service_databases, tmp_path):
    """A PgBouncer in transaction mode in front of the test server; yields its port."""
    if not os.path.exists(PGBOUNCER):
        pytest.skip("pgbouncer is not installed (scripts/bootstrap.sh installs it)")
    server, _ = service_databases
    port = find_free_port()
    config = tmp_path / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port} user={server.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        f"default_pool_size = {SERVER_CONNECTIONS_PER_DATABASE}\nmax_client_conn = 500\n"
        f"admin_users = {server.username}\n"
        # PgBouncer will not run as root; it reads its config first, then drops to
        # the PostgreSQL account.
        + ("user = postgres\n" if os.geteuid() == 0 else ""))
    config.chmod(0o644)
    log = tmp_path / "pgbouncer.log"
    with log.open("wb") as output:
        process = subprocess.Popen([PGBOUNCER, str(config)], stdout=output, stderr=output)
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user=server.username,
                             dbname="pgbouncer").close()
            break
        except psycopg2.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"pgbouncer did not start: {log.read_text()}") from None
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(10)


def pools(port, user):
    """PgBouncer's SHOW POOLS, by database: (client connections, server connections)."""
    connection = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="pgbouncer")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW POOLS")
            columns = [column.name for column in cursor.description or ()]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()
    return {row["database"]: (row["cl_active"] + row["cl_waiting"],
                              sum(row[state] for state in SERVER_STATES))
            for row in rows}


def test_the_shop_runs_through_pgbouncer_in_transaction_mode(
        start_system, service_databases, pgbouncer):
    server, names = service_databases
    through_pgbouncer = {
        f"{service}:Base": f"postgresql+psycopg2://{server.username}@127.0.0.1:{pgbouncer}/{name}"
        for service, name in names.items()}
    for service in BACKENDS:
        upgrade(service, through_pgbouncer[f"{service}:Base"])
    _, api = start_system(DB_URIS=through_pgbouncer, DB_POOL_SIZE=8)
    user, auth = api.user_with_token("ada")
    _, admin = api.user_with_token("root", role="admin")
    created = api.http.post("/products", headers=admin, json={
        "name": "Lamp", "price": "12.50", "category": "home", "stock": 10,
        "description": "A lamp."})
    assert created.status_code == 201, created.text
    product = created.json()

    # Concurrent orders: stock is taken in transactions on whatever server connection
    # PgBouncer hands out, and nothing is sold twice.
    def order(_):
        return api.http.post("/orders", headers=auth,
                             json=order_body((product, 1))).status_code

    statuses = list(eventlet.GreenPool(20).imap(order, range(14)))
    assert sorted(statuses) == [201] * 10 + [409] * 4
    assert api.http.get(f"/products/{product['id']}").json()["stock"] == 0

    # A retried write: the answer kept under its key, behind an advisory lock.
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = api.http.post("/posts", headers={**auth, **key}, json={"title": "T", "body": "B"})
    again = api.http.post("/posts", headers={**auth, **key}, json={"title": "T", "body": "B"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"

    # The outbox relays (their claims under advisory locks) delivered the events: the
    # welcome and the order's notifications.
    kinds = until(lambda: notification_kinds(api, auth),
                  lambda kinds: {"welcome", "order_placed"} <= set(kinds))
    assert {"welcome", "order_placed"} <= set(kinds)

    by_database = pools(pgbouncer, server.username)
    for service, name in names.items():
        clients, servers = by_database[name]
        assert servers <= SERVER_CONNECTIONS_PER_DATABASE, (service, servers)
    assert by_database[names["orders"]][0] > SERVER_CONNECTIONS_PER_DATABASE
