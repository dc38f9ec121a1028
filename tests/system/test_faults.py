"""Faults under load, with real `nameko run` processes: every request is answered, and
nothing is lost or counted twice.

FAULT_LOAD_SECONDS sets how long each phase keeps the load on (`make chaos` raises it).
"""

import collections
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import eventlet
import requests
import sqlalchemy
from kombu.connection import Connection
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcProxy

from devstack.processes import ROOT
from shop.deadletters import waiting_by_service
from shop.roster import SERVICES
from tests.system.conftest import (
    RPC_TIMEOUT_SECONDS,
    PrivateServer,
    sign_up_and_in,
    wait_for_services,
)

LOAD_SECONDS = float(os.environ.get("FAULT_LOAD_SECONDS", "3"))
CLIENTS = 12
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


class Load:
    """Clients sending requests in a loop; counts each answer by route and status."""

    def __init__(self, base_url: str, requests_to_send):
        self.base_url = base_url
        # [(label, method, path, kwargs)], or callables returning one
        self.requests_to_send = requests_to_send
        self.answers: collections.Counter[tuple[str, int]] = collections.Counter()
        # No answer at all: connection refused, reset or timed out.
        self.lost: list[tuple[str, str]] = []
        self.slowest: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.running = False

    def client(self, index: int) -> None:
        session = requests.Session()
        n = index
        while self.running:
            entry = self.requests_to_send[n % len(self.requests_to_send)]
            label, method, path, kwargs = entry() if callable(entry) else entry
            n += 1
            started = time.monotonic()
            try:
                response = session.request(method, self.base_url + path, timeout=15, **kwargs)
            except requests.RequestException as error:
                self.lost.append((label, repr(error)))
                continue
            self.slowest[label] = max(self.slowest[label], time.monotonic() - started)
            self.answers[(label, response.status_code)] += 1

    def __enter__(self):
        self.running = True
        self.pool = [eventlet.spawn(self.client, i) for i in range(CLIENTS)]
        return self

    def __exit__(self, *exc):
        self.running = False
        for thread in self.pool:
            thread.wait()

    def statuses(self, label: str) -> dict:
        return {status: n for (name, status), n in self.answers.items() if name == label}

    def report(self) -> str:
        sent = sum(self.answers.values()) + len(self.lost)
        return f"sent {sent}, answered {dict(self.answers)}, lost {len(self.lost)}"


def test_a_service_killed_under_load_fails_fast_alone_and_comes_back(processes):
    for service in SERVICES:
        processes.start(service)
    wait_for_services(processes.base_url)
    auth = sign_up_and_in(processes.base_url)
    load = Load(processes.base_url, [
        ("posts", "GET", "/posts?limit=5", {}),
        ("me", "GET", "/users/me", {"headers": auth}),
        ("health", "GET", "/health", {}),
    ])
    with load:
        eventlet.sleep(LOAD_SECONDS / 2)
        processes.started["posts"].send_signal(signal.SIGKILL)  # no goodbye to the broker
        processes.started["posts"].wait()
        eventlet.sleep(LOAD_SECONDS + RPC_TIMEOUT_SECONDS)
        during = dict(load.answers)
        processes.start("posts", name="posts-again")
        wait_for_services(processes.base_url)
        eventlet.sleep(LOAD_SECONDS / 2)
    print(load.report())
    assert load.lost == [], load.lost[:5]
    assert set(load.statuses("posts")) <= {200, 503, 504}, load.report()
    assert during.get(("posts", 503), 0) + during.get(("posts", 504), 0) > 0, load.report()
    assert load.slowest["posts"] < RPC_TIMEOUT_SECONDS + 1.5  # the deadline, not a hang
    assert set(load.statuses("me")) == {200} and set(load.statuses("health")) == {200}
    assert load.slowest["health"] < 1.0  # the gateway's workers were never all stuck
    assert requests.get(processes.base_url + "/posts").status_code == 200


def test_two_replicas_of_orders_and_products_sell_the_stock_exactly_once(processes):
    for service in SERVICES:
        processes.start(service)
    processes.start("orders", name="orders-2")
    processes.start("products", name="products-2")
    wait_for_services(processes.base_url)
    base = processes.base_url
    admin = sign_up_and_in(base, "root", admin=True, config=processes.rpc_config)
    product = requests.post(f"{base}/products", headers=admin, json={
        "name": "Lamp", "price": "30.00", "category": "home", "stock": 10}).json()
    buyers = [sign_up_and_in(base, f"buyer{i}") for i in range(5)]

    def order(n):
        return requests.post(f"{base}/orders", headers=buyers[n % 5], json={
            "items": [{"product_id": product["id"], "quantity": 1}],
            "shipping_address": ADDRESS}, timeout=15)

    pool = eventlet.GreenPool(50)
    statuses = collections.Counter(response.status_code for response in pool.imap(order,
                                                                                    range(50)))
    assert statuses == {201: 10, 409: 40}, statuses
    assert requests.get(f"{base}/products/{product['id']}").json()["stock"] == 0
    sold = sum(item["quantity"]
               for buyer in buyers
               for placed in requests.get(f"{base}/orders", headers=buyer).json()["items"]
               for item in placed["items"])
    assert sold == 10


def numbered(label: str, method: str, path: str, body_of, **kwargs):
    """Requests whose JSON body carries a fresh number each time (new users, new posts)."""
    numbers = itertools.count()
    return lambda: (label, method, path, {**kwargs, "json": body_of(next(numbers))})


def count_rows(uri: str, sql: str) -> int:
    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sqlalchemy.text(sql)).scalar() or 0)
    finally:
        engine.dispose()


EMITTERS = ("users", "posts", "products", "orders")  # the services with an outbox
RELIABLE_CONSUMERS = ["notifications", "posts", "gateway"]  # with a dead-letter queue


class EventAudit:
    """A durable queue of the test's own, bound to every event of the emitting services:
    what the broker delivered, by event id, across a restart of the broker."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.queue = f"faults-audit-{uuid.uuid4().hex[:8]}"
        with Connection(amqp_uri) as connection:
            channel = connection.default_channel
            channel.queue_declare(self.queue, durable=True)
            for service in EMITTERS:
                get_event_exchange(service, {})(channel).declare()
                channel.queue_bind(self.queue, f"{service}.events", routing_key="#")

    def delivered(self) -> collections.Counter[str]:
        """How many times each event id was delivered (taking them off the queue)."""
        times: collections.Counter[str] = collections.Counter()
        with Connection(self.amqp_uri) as connection:
            channel = connection.default_channel
            while (message := channel.basic_get(self.queue, no_ack=True)) is not None:
                times[json.loads(message.body)["event_id"]] += 1
        return times


def committed_event_ids(uris: dict, event_type: str | None = None) -> set[str]:
    """The ids of every event the emitting services' outboxes hold (sent ones are kept an
    hour), of one type if given."""
    ids = set()
    for service in EMITTERS:
        engine = sqlalchemy.create_engine(uris[f"{service}:Base"])
        try:
            with engine.connect() as connection:
                rows = connection.execute(sqlalchemy.text(
                    "SELECT event_type, payload FROM outbox")).all()
        finally:
            engine.dispose()
        ids |= {json.loads(payload)["event_id"] for kind, payload in rows
                if event_type in (None, kind)}
    return ids


def column(uri: str, sql: str) -> set:
    engine = sqlalchemy.create_engine(uri)
    try:
        with engine.connect() as connection:
            return set(connection.execute(sqlalchemy.text(sql)).scalars())
    finally:
        engine.dispose()


def until_drained(uris: dict, seconds: float = 60) -> int:
    """Waits until every emitting service's outbox has sent everything; what is left."""
    deadline = time.monotonic() + seconds
    while True:
        unsent = sum(count_rows(uris[f"{service}:Base"],
                                "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                     for service in EMITTERS)
        if unsent == 0 or time.monotonic() > deadline:
            return unsent
        time.sleep(0.5)


def test_rabbitmq_restarted_under_load_loses_no_event_and_everything_reconnects(
        processes, private_rabbitmq, migrated_databases):
    """Sign-ups, orders, price changes and account deletions under load while the broker
    restarts: every change committed has its event delivered and handled once, and no
    effect exists without its change."""
    uris = migrated_databases
    broker = {"AMQP_URI": private_rabbitmq.settings.amqp_uri}
    audit = EventAudit(private_rabbitmq.settings.amqp_uri)
    for service in SERVICES:
        processes.start(service, **broker)
    wait_for_services(processes.base_url)
    base, rpc_config = processes.base_url, {"AMQP_URI": private_rabbitmq.settings.amqp_uri}
    auth = sign_up_and_in(base)
    admin = sign_up_and_in(base, "root", admin=True, config=rpc_config)
    buyers = [sign_up_and_in(base, f"buyer{i}") for i in range(4)]
    product = requests.post(f"{base}/products", headers=admin, json={
        "name": "Lamp", "price": "30.00", "category": "home", "stock": 1_000_000}).json()
    # Accounts to delete under load, each with a post that must go with it (and only then).
    tokens_of_doomed = doomed_authors(rpc_config, int(20 * LOAD_SECONDS))
    doomed = iter(list(tokens_of_doomed))
    orders = itertools.count()

    def delete_next():
        user_id = next(doomed, None)
        if user_id is None:  # all gone: the client reads instead
            return ("posts", "GET", "/posts?limit=5", {})
        return ("delete", "DELETE", f"/users/{user_id}", {"headers": admin})

    def order_next():
        return ("order", "POST", "/orders", {"headers": buyers[next(orders) % len(buyers)],
                                             "json": {"items": [{"product_id": product["id"],
                                                                 "quantity": 1}],
                                                      "shipping_address": ADDRESS}})

    load = Load(base, [
        ("me", "GET", "/users/me", {"headers": auth}),
        numbered("signup", "POST", "/users", lambda n: {
            "name": f"user{n}", "email": f"user{n}@example.com", "password": "correct horse"}),
        order_next,
        numbered("price", "PATCH", f"/products/{product['id']}",
                 lambda n: {"price": f"{30 + n % 50}.00"}, headers=admin),
        delete_next,
    ])
    with load:
        eventlet.sleep(LOAD_SECONDS / 2)
        private_rabbitmq.stop()
        outage_started = time.monotonic()
        private_rabbitmq.start()  # the same node and data: durable queues come back
        outage_seconds = time.monotonic() - outage_started
        try:  # nothing was restarted but the broker
            wait_for_services(base, seconds=120)
        except AssertionError:
            tails = "\n".join(f"== {name}\n{processes.log(name)[-1500:]}"
                              for name in processes.started)
            raise AssertionError("no reconnection; the logs end:\n" + tails) from None
        eventlet.sleep(LOAD_SECONDS / 2)
    print(f"broker down {outage_seconds:.1f} s; {load.report()}")
    assert load.lost == [], load.lost[:5]
    statuses = {status for (_, status) in load.answers}
    assert statuses <= {200, 201, 204, 503, 504}, load.report()
    assert requests.get(base + "/users/me", headers=auth).status_code == 200
    for label in ("signup", "order", "price", "delete"):  # each kind of write went through
        assert load.statuses(label).get(201, 0) + load.statuses(label).get(200, 0) + \
            load.statuses(label).get(204, 0) > 0, load.report()

    # Every change committed wrote its event in its own transaction (the outbox); once
    # the broker is back each is delivered, and none was delivered that was not committed.
    unsent = until_drained(uris)
    committed = committed_event_ids(uris)
    deadline = time.monotonic() + 30
    delivered = audit.delivered()
    while set(delivered) != committed and time.monotonic() < deadline:
        time.sleep(0.5)
        delivered += audit.delivered()
    twice = sum(n - 1 for n in delivered.values())
    print(f"events committed: {len(committed)}, delivered: {len(delivered)} "
          f"(again: {twice}), unsent: {unsent}")
    assert unsent == 0 and set(delivered) == committed

    # ... and handled once: one welcome per account, one notification per order placed,
    # a deleted account's posts gone, and nothing of the kind without its change.
    accounts = column(uris["users:Base"], "SELECT id FROM users")
    placed = column(uris["orders:Base"], "SELECT id FROM orders WHERE status = 'placed'")
    notifications = uris["notifications:Base"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        welcomed = column(notifications,
                          "SELECT user_id FROM notifications WHERE kind = 'welcome'")
        told = column(notifications,
                      "SELECT event_key FROM notifications WHERE kind = 'order_placed'")
        authors = column(uris["posts:Base"], "SELECT DISTINCT author_id FROM posts")
        if welcomed == accounts and len(told) == len(placed) and authors <= accounts:
            break
        time.sleep(0.5)
    print(f"sign-ups answered 201: {load.statuses('signup').get(201, 0)}, accounts: "
          f"{len(accounts)}, welcomes: {len(welcomed)}; orders placed: {len(placed)}, "
          f"notified: {len(told)}; deletes answered 204: {load.statuses('delete').get(204, 0)}, "
          f"authors left without an account: {len(authors - accounts)}")
    assert welcomed == accounts  # the notifications table keeps one per event key
    assert told == {f"order_placed:{order_id}" for order_id in placed}
    left = doomed_left(uris)
    assert authors <= accounts  # every deleted account's posts are gone...
    assert left <= authors  # ...and only theirs
    # every sign-up answered 201 is an account (a 503/504 may have committed one too)
    assert load.statuses("signup").get(201, 0) + len(buyers) + 2 <= len(accounts - left)

    # A deleted account's tokens are refused, whichever gateway hears of it; the others
    # still work. Nothing was dead-lettered: the outage was waited out, not counted.
    answers = {user_id: requests.get(f"{base}/users/me", headers={
        "Authorization": f"Bearer {token}"}).status_code
        for user_id, token in tokens_of_doomed.items()}
    refused = {user_id for user_id, status in answers.items() if status == 401}
    dead = waiting_by_service(private_rabbitmq.settings.amqp_uri, RELIABLE_CONSUMERS)
    print(f"tokens of deleted accounts refused: {len(refused)} of "
          f"{len(tokens_of_doomed) - len(left)}, of kept accounts working: "
          f"{sum(answers[user_id] == 200 for user_id in left)} of {len(left)}; "
          f"dead letters: {dead}")
    assert refused == set(tokens_of_doomed) - left
    assert all(answers[user_id] == 200 for user_id in left)
    assert sum(dead.values()) == 0

    for name in list(processes.started):  # and nothing hangs on the way out
        assert processes.stop(name, timeout=20) == 0, processes.log(name)[-2000:]


def doomed_authors(rpc_config: dict, count: int) -> dict[str, str]:
    """{id: token} of count new accounts named doomed<n>, each the author of one post."""
    tokens = {}
    with ClusterRpcProxy(rpc_config) as rpc:
        for n in range(count):
            user = rpc.users.create_user({"name": f"doomed{n}", "email": f"doomed{n}@example.com",
                                          "password": "correct horse"})
            rpc.posts.create_post({"title": "soon gone", "body": "words"},
                                  actor={"id": user["id"], "role": "user"})
            tokens[user["id"]] = rpc.users.sign_in({"email": user["email"],
                                                    "password": "correct horse"})["token"]
    return tokens


def doomed_left(uris: dict) -> set[str]:
    return column(uris["users:Base"], "SELECT id FROM users WHERE name LIKE 'doomed%'")


def test_every_service_stops_on_sigterm_while_its_broker_is_gone(processes, private_rabbitmq):
    """A scheduler stops a pod whose broker node died: each process must still exit on
    SIGTERM, and soon (nameko waited for a consuming loop that was busy reconnecting)."""
    for service in SERVICES:
        processes.start(service, AMQP_URI=private_rabbitmq.settings.amqp_uri)
    wait_for_services(processes.base_url)
    private_rabbitmq.stop()
    time.sleep(3)  # every consumer has lost its connection and is retrying
    for name in SERVICES:
        started = time.monotonic()
        assert processes.stop(name, timeout=10) == 0, processes.log(name)[-2000:]
        assert time.monotonic() - started < 5, f"{name} took {time.monotonic() - started:.1f} s"


def test_a_database_stopped_under_load_gives_clean_503s_and_loses_nothing(
        processes, migrated_databases):
    database = PrivateServer("postgres", databases=("faults_posts",))
    try:
        database.start()
        uris = {**migrated_databases,
                "posts:Base": database.settings.postgres_uri("faults_posts")}
        env = {**processes.env, "DB_URIS": json.dumps(uris)}
        subprocess.run([sys.executable, "-m", "shop.migrate", "posts"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for service in SERVICES:
            processes.start(service, DB_URIS=json.dumps(uris))
        wait_for_services(processes.base_url)
        auth = sign_up_and_in(processes.base_url)
        load = Load(processes.base_url, [
            ("list", "GET", "/posts?limit=5", {}),
            ("me", "GET", "/users/me", {"headers": auth}),
            numbered("create", "POST", "/posts",
                     lambda n: {"title": f"post {n}", "body": "words"}, headers=auth),
        ])
        with load:
            eventlet.sleep(LOAD_SECONDS / 2)
            database.stop()
            eventlet.sleep(max(LOAD_SECONDS / 2, RPC_TIMEOUT_SECONDS + 1))
            database.start()
            eventlet.sleep(LOAD_SECONDS)
        print(load.report())
        assert load.lost == [], load.lost[:5]
        assert {status for (_, status) in load.answers} <= {200, 201, 503, 504}, load.report()
        failed = {label: sum(n for status, n in load.statuses(label).items() if status >= 500)
                  for label in ("list", "create")}
        assert failed["list"] > 0 and failed["create"] > 0, load.report()
        assert load.slowest["list"] < RPC_TIMEOUT_SECONDS + 1.5  # the deadline, not a hang
        assert set(load.statuses("me")) == {200}  # users' database was never touched
        assert requests.get(processes.base_url + "/posts").status_code == 200

        created = load.statuses("create")
        stored = count_rows(uris["posts:Base"], "SELECT count(*) FROM posts")
        unanswered = created.get(503, 0) + created.get(504, 0)
        print(f"creates answered 201: {created.get(201, 0)}, 503/504: {unanswered}, "
              f"rows: {stored}")
        # Every 201 is stored; a failed answer may only hide a commit that went through.
        assert created[201] <= stored <= created[201] + unanswered
    finally:
        database.close()


class RetryingClients:
    """Clients that each send a write under a fresh Idempotency-Key and retry it, same
    key and same body, on every 503, 504 and 409 IDEMPOTENCY_KEY_IN_FLIGHT until it
    succeeds: what a careful client of the API does through an outage."""

    def __init__(self, base_url: str, writes):
        self.base_url = base_url
        self.writes = writes  # [(label, method, path, body_of(n), headers)]
        self.keys: collections.defaultdict[str, set[str]] = collections.defaultdict(set)
        self.retries: collections.Counter[str] = collections.Counter()
        self.replayed: collections.Counter[str] = collections.Counter()
        self.unexpected: list[tuple[str, int, str]] = []
        self.unfinished: list[str] = []
        self.numbers = itertools.count()
        self.running = False

    def client(self, index: int) -> None:
        session = requests.Session()
        while self.running:
            n = next(self.numbers)
            label, method, path, body_of, headers = self.writes[n % len(self.writes)]
            key = str(uuid.uuid4())
            self.keys[label].add(key)
            self.write_once(session, label, method, path, body_of(n),
                            {**headers, "Idempotency-Key": key})

    def write_once(self, session, label, method, path, body, headers) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = session.request(method, self.base_url + path, json=body,
                                           headers=headers, timeout=15)
            except requests.RequestException:
                status, code = 0, "no answer"
            else:
                status = response.status_code
                code = response.json().get("code", "") if status >= 400 else ""
            if 200 <= status < 300:
                self.replayed[label] += response.headers.get("Idempotent-Replayed") == "true"
                return
            if status in (0, 503, 504) or code == "IDEMPOTENCY_KEY_IN_FLIGHT":
                self.retries[label] += 1
                eventlet.sleep(0.2)
                continue
            self.unexpected.append((label, status, code))
            return
        self.unfinished.append(label)

    def __enter__(self):
        self.running = True
        self.pool = [eventlet.spawn(self.client, i) for i in range(CLIENTS)]
        return self

    def __exit__(self, *exc):
        self.running = False  # each client finishes the write in hand first
        for thread in self.pool:
            thread.wait()

    def report(self) -> str:
        return (f"keys {({label: len(keys) for label, keys in self.keys.items()})}, "
                f"retries {dict(self.retries)}, replayed {dict(self.replayed)}, "
                f"unexpected {self.unexpected[:5]}, unfinished {self.unfinished[:5]}")


DATABASES = ("users", "posts", "products", "orders", "notifications")


def test_writes_retried_under_their_keys_land_once_through_broker_and_database_faults(
        processes, private_rabbitmq):
    """Sign-ups, posts, comments and orders, each retried under its key through a broker
    restart and then a database stop: afterwards there is exactly one row per key."""
    database = PrivateServer("postgres", databases=tuple(f"retried_{name}"
                                                         for name in DATABASES))
    try:
        database.start()
        uris = {f"{name}:Base": database.settings.postgres_uri(f"retried_{name}")
                for name in DATABASES}
        env = {**processes.env, "DB_URIS": json.dumps(uris)}
        subprocess.run([sys.executable, "-m", "shop.migrate"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        amqp_uri = private_rabbitmq.settings.amqp_uri
        for service in SERVICES:
            processes.start(service, AMQP_URI=amqp_uri, DB_URIS=json.dumps(uris))
        base = processes.base_url
        wait_for_services(base)
        writer = sign_up_and_in(base)
        admin = sign_up_and_in(base, "root", admin=True, config={"AMQP_URI": amqp_uri})
        product = requests.post(f"{base}/products", headers=admin, json={
            "name": "Lamp", "price": "30.00", "category": "home", "stock": 1_000_000}).json()
        post = requests.post(f"{base}/posts", headers=writer,
                             json={"title": "commented", "body": "words"}).json()
        clients = RetryingClients(base, [
            ("signup", "POST", "/users", lambda n: {
                "name": f"retried{n}", "email": f"retried{n}@example.com",
                "password": "correct horse"}, {}),
            ("post", "POST", "/posts", lambda n: {"title": f"retried {n}", "body": "words"},
             writer),
            ("comment", "POST", f"/posts/{post['id']}/comments",
             lambda n: {"body": f"retried {n}"}, writer),
            ("order", "POST", "/orders", lambda n: {
                "items": [{"product_id": product["id"], "quantity": 1}],
                "shipping_address": ADDRESS}, writer),
        ])
        with clients:
            eventlet.sleep(LOAD_SECONDS / 2)
            private_rabbitmq.stop()
            private_rabbitmq.start()
            wait_for_services(base, seconds=120)
            eventlet.sleep(LOAD_SECONDS / 2)
            database.stop()
            eventlet.sleep(max(LOAD_SECONDS / 2, RPC_TIMEOUT_SECONDS + 1))
            database.start()
            eventlet.sleep(LOAD_SECONDS / 2)
        print(clients.report())
        assert clients.unexpected == [] and clients.unfinished == [], clients.report()
        assert sum(clients.retries.values()) > 0, clients.report()  # the faults were felt

        rows = {
            "signup": column(uris["users:Base"],
                             "SELECT email FROM users WHERE name LIKE 'retried%'"),
            "post": column(uris["posts:Base"],
                           "SELECT id FROM posts WHERE title LIKE 'retried %'"),
            "comment": column(uris["posts:Base"],
                              "SELECT id FROM comments WHERE body LIKE 'retried %'"),
            "order": column(uris["orders:Base"],
                            "SELECT idempotency_key FROM orders WHERE status = 'placed'"),
        }
        print("rows per kind: " + ", ".join(
            f"{label} {len(rows[label])} for {len(clients.keys[label])} keys" for label in rows))
        for label, found in rows.items():
            assert len(found) == len(clients.keys[label]), (label, clients.report())
        assert rows["order"] == clients.keys["order"]  # one placed order per key, each key
    finally:
        database.close()
