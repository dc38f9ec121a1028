"""`make cluster-test`: the shop on a cluster of real servers, each "host" a network
namespace (tests/cluster/hosts.py), proven by killing parts of it under load.

Clients send sign-ups, posts, orders and reads through both gateways, as behind a load
balancer: a request that gets no answer at all (refused, reset) goes to the other
gateway under the same Idempotency-Key. Faults, in turn: the RabbitMQ node leading
rpc-orders killed (SIGKILL), one application host killed, the Redis master killed, and one
RabbitMQ node cut off from the others (its link down). Each phase is reported: sent,
answered by status, lost (must be 0), and when 5xx answers came (only within heartbeat +
deadline of the fault). Afterwards: every order answered 201 exists once, stock is
conserved, every account has exactly one welcome, and every consumer is back.

Root only, and not part of `make test` (minutes): CLUSTER_TEST=1 runs it.
"""

from __future__ import annotations

import collections
import itertools
import os
import shutil
import time
import uuid
from collections.abc import Callable
from functools import partial

import eventlet
import pytest
import requests

from devstack.netns import NetnsUnavailable, can_make_namespaces
from devstack.processes import ROOT
from shop.roster import BACKENDS
from tests.cluster.hosts import (
    APPS,
    HEARTBEAT_SECONDS,
    RABBITS,
    RPC_TIMEOUT_SECONDS,
    Cluster,
    until,
)
from tests.k8s import consumed_queues, service_class
from tests.system.test_faults import column, until_drained

LOAD_SECONDS = float(os.environ.get("CLUSTER_LOAD_SECONDS", "10"))
CLIENTS = 6
STOCK = 1_000_000
# A fault may cost 5xx answers until clients notice it (two heartbeats for a silent
# node) and a call's deadline passes, plus a reconnect's back-off.
FIVE_XX_WINDOW = 2 * HEARTBEAT_SECONDS + RPC_TIMEOUT_SECONDS + 10
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}

pytestmark = pytest.mark.skipif(os.environ.get("CLUSTER_TEST") != "1",
                                reason="make cluster-test runs this (CLUSTER_TEST=1, as root)")


@pytest.fixture(scope="module")
def cluster():
    why = can_make_namespaces()
    if why:
        pytest.skip(why)
    run_dir = ROOT / ".run" / "cluster-test"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    built = Cluster(run_dir)
    try:
        built.network.create()
    except NetnsUnavailable as error:
        pytest.skip(str(error))
    try:
        built.start_rabbitmq_cluster()
        built.start_redis_with_sentinels()
        built.start_database()
        built.migrate()
        for host in APPS:
            built.start_app(host)
        for host in APPS:
            until(partial(built.apps_answer, host), 120, f"the services on {host}")
        yield built
    finally:
        built.stop_all()
        built.network.remove()


class Clients:
    """Clients behind a pretend load balancer: round robin over the gateways, and a
    request with no answer goes to the next one under the same key (within 30 s)."""

    def __init__(self, cluster: Cluster, admin: dict, product_id: str,
                 buyers: list[dict]) -> None:
        self.cluster = cluster
        self.admin = admin
        self.product_id = product_id
        self.buyers = buyers
        self.running = False
        self.answers: list[tuple[str, str, int, float]] = []  # (phase, kind, status, at)
        self.lost: list[tuple[str, str]] = []
        self.orders_created: list[str] = []
        self.accounts_created: list[str] = []
        self.phase = ""
        self.counter = itertools.count()

    def next_request(self) -> tuple[str, str, str, dict]:
        n = next(self.counter)
        buyer = self.buyers[n % len(self.buyers)]
        kinds: list[Callable[[], tuple[str, str, str, dict]]] = [
            lambda: ("signup", "POST", "/users", {"json": {
                "name": f"user{n}", "email": f"user{n}-{uuid.uuid4().hex[:6]}@example.com",
                "password": "correct horse"}}),
            lambda: ("order", "POST", "/orders", {"headers": buyer, "json": {
                "items": [{"product_id": self.product_id, "quantity": 1}],
                "shipping_address": ADDRESS}}),
            lambda: ("post", "POST", "/posts", {"headers": buyer, "json": {
                "title": f"Post {n}", "body": "Written under a fault."}}),
            lambda: ("read", "GET", f"/products/{self.product_id}", {}),
        ]
        return kinds[n % len(kinds)]()

    def send(self, index: int) -> None:
        session = requests.Session()
        gateways = itertools.cycle(APPS[index % 2:] + APPS[:index % 2])
        while self.running:
            kind, method, path, options = self.next_request()
            headers = {**options.pop("headers", {}), "Idempotency-Key": uuid.uuid4().hex}
            deadline = time.monotonic() + 30
            while True:
                host = next(gateways)
                try:
                    reply = session.request(method, self.cluster.gateway_url(host) + path,
                                            headers=headers, timeout=15, **options)
                    break
                except requests.RequestException:
                    session = requests.Session()  # the old connections may be dead
                    if time.monotonic() > deadline:
                        self.lost.append((self.phase, f"{method} {path}"))
                        reply = None
                        break
                    eventlet.sleep(0.2)
            if reply is None:
                continue
            self.answers.append((self.phase, kind, reply.status_code, time.monotonic()))
            if kind == "order" and reply.status_code == 201:
                self.orders_created.append(reply.json()["id"])
            if kind == "signup" and reply.status_code == 201:
                self.accounts_created.append(reply.json()["id"])

    def run(self, phase: str, fault: Callable[[], None] | None,
            after: Callable[[], None] | None = None) -> dict:
        """Load for LOAD_SECONDS, the fault a third of the way in; the phase's figures."""
        self.phase = phase
        self.running = True
        clients = [eventlet.spawn(self.send, index) for index in range(CLIENTS)]
        eventlet.sleep(LOAD_SECONDS / 3)
        fault_at = time.monotonic()
        if fault:
            fault()
        eventlet.sleep(LOAD_SECONDS * 2 / 3)
        if after:
            after()
        eventlet.sleep(LOAD_SECONDS / 3)
        self.running = False
        for client in clients:
            client.wait()
        mine = [(kind, status, at) for (name, kind, status, at) in self.answers
                if name == phase]
        statuses = collections.Counter(status for _, status, _ in mine)
        late_5xx = [at - fault_at for _, status, at in mine
                    if status >= 500 and not 0 <= at - fault_at <= FIVE_XX_WINDOW]
        last_5xx = max((at - fault_at for _, status, at in mine if status >= 500),
                       default=None)
        lost = [entry for entry in self.lost if entry[0] == phase]
        return {"phase": phase, "sent": len(mine) + len(lost), "statuses": dict(statuses),
                "lost": len(lost), "late_5xx": late_5xx, "last_5xx": last_5xx}


def signed_in(cluster: Cluster, name: str) -> tuple[str, dict]:
    base = cluster.gateway_url(APPS[0])
    body = {"name": name, "email": f"{name}@example.com", "password": "correct horse"}
    user = requests.post(f"{base}/users", json=body, timeout=15).json()
    token = requests.post(f"{base}/signin", json={"email": body["email"],
                                                  "password": body["password"]},
                          timeout=15).json()["token"]
    return user["id"], {"Authorization": f"Bearer {token}"}


def make_admin(cluster: Cluster, user_id: str) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    config = {"AMQP_URI": ";".join(f"pyamqp://guest:guest@{cluster.address(host)}:5672/"
                                   for host in RABBITS)}
    with ClusterRpcProxy(config, timeout=15) as rpc:
        rpc.users.set_role(user_id, "admin")


def report_table(phases: list[dict]) -> str:
    lines = ["| fault | sent | answered | lost | 5xx within | last 5xx after the fault |",
             "|---|---|---|---|---|---|"]
    for phase in phases:
        answered = ", ".join(f"{count} × {status}"
                             for status, count in sorted(phase["statuses"].items()))
        last = "none" if phase["last_5xx"] is None else f"{phase['last_5xx']:.1f} s"
        lines.append(f"| {phase['phase']} | {phase['sent']} | {answered} | {phase['lost']} "
                     f"| {FIVE_XX_WINDOW} s | {last} |")
    return "\n".join(lines)


def test_the_shop_survives_the_loss_of_any_one_node(cluster: Cluster):
    admin_id, admin = signed_in(cluster, "root")
    make_admin(cluster, admin_id)
    base = cluster.gateway_url(APPS[0])
    admin_token = requests.post(f"{base}/signin", json={
        "email": "root@example.com", "password": "correct horse"}, timeout=15).json()["token"]
    admin = {"Authorization": f"Bearer {admin_token}"}
    product = requests.post(f"{base}/products", headers=admin, timeout=15, json={
        "name": "Lamp", "price": "30.00", "category": "home", "stock": STOCK}).json()
    buyers = [signed_in(cluster, f"buyer{i}")[1] for i in range(4)]
    for host in APPS:  # both gateways count limits on the master the Sentinels name
        assert "RateLimit-Remaining" in requests.get(cluster.gateway_url(host) + "/products",
                                                     headers=buyers[0], timeout=15).headers
    assert cluster.redis_client(cluster.redis_master()).keys("rate:general:*")
    clients = Clients(cluster, admin, product["id"], buyers)
    phases = []

    leader = cluster.queue_leader("rpc-orders")
    phases.append(clients.run(
        f"RabbitMQ node leading rpc-orders ({leader}) killed",
        lambda: cluster.kill(f"rabbitmq@{leader}")))
    cluster.start_rabbit(leader)  # the same node and data: it rejoins
    until(lambda: cluster.running_rabbits(cluster.any_running_rabbit()) == set(RABBITS), 120,
          f"{leader} back in the cluster")

    phases.append(clients.run("application host app1 killed (all 6 processes)",
                              lambda: cluster.stop_app("app1")))
    cluster.start_app("app1")
    until(lambda: cluster.apps_answer("app1"), 120, "app1 back")

    master = cluster.redis_master()
    phases.append(clients.run(f"Redis master ({master}) killed",
                              lambda: cluster.kill(f"redis@{master}")))
    until(lambda: cluster.redis_master() != master, 60, "a new Redis master")

    cut = cluster.queue_leader("rpc-orders")
    phases.append(clients.run(
        f"RabbitMQ node {cut} cut off (link down)", cluster.network[cut].cut_off,
        after=cluster.network[cut].reconnect))
    until(lambda: cluster.running_rabbits(cluster.any_running_rabbit()) == set(RABBITS), 180,
          f"{cut} back in the cluster")

    table = report_table(phases)
    print("\n" + table)
    (cluster.run_dir / "report.md").write_text(table + "\n")
    for phase in phases:
        assert phase["lost"] == 0, phase
        assert phase["late_5xx"] == [], phase

    # Every order answered 201 exists exactly once, and the stock they took is gone.
    urls = cluster.database_urls()
    assert until_drained(urls, seconds=120) == 0
    placed = column(urls["orders:Base"], "SELECT id FROM orders")
    assert set(clients.orders_created) <= placed
    assert len(clients.orders_created) == len(set(clients.orders_created))
    sold = column(urls["orders:Base"],
                  "SELECT coalesce(sum(i.quantity), 0) FROM order_items i "
                  "JOIN orders o ON o.id = i.order_id WHERE o.status <> 'cancelled'")
    stock = column(urls["products:Base"], f"SELECT stock FROM products WHERE id = "
                                          f"'{product['id']}'")
    assert stock == {STOCK - sold.pop()}
    # Every account has exactly one welcome (the outbox and idempotent handlers).
    accounts = column(urls["users:Base"], "SELECT id FROM users")
    assert set(clients.accounts_created) <= accounts
    deadline = time.monotonic() + 60
    while True:
        welcomes = column(urls["notifications:Base"],
                          "SELECT user_id FROM notifications WHERE kind = 'welcome'")
        count = column(urls["notifications:Base"],
                       "SELECT count(*) FROM notifications WHERE kind = 'welcome'").pop()
        if welcomes == accounts or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert welcomes == accounts and count == len(accounts)
    # Every consumer is back: each queue a service consumes, once per application host.
    expected = {queue for service in BACKENDS for queue in consumed_queues(service_class(service))}

    def consumers_back() -> bool:
        listed = cluster.rabbitmqctl(cluster.any_running_rabbit(), "list_consumers", "-q",
                                     "queue_name")
        counts = collections.Counter(line.strip() for line in listed.splitlines())
        return all(counts[queue] == len(APPS) for queue in expected)

    until(consumers_back, 60, "every consumer back on every queue")
    print(f"orders answered 201: {len(clients.orders_created)}, rows {len(placed)}; "
          f"accounts {len(accounts)} = welcomes {count}; stock {STOCK} - {STOCK - stock.pop()}")

