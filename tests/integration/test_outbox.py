"""The users service's events leave through its outbox: at once after the write, in
order, once, and all of them after the broker refused them for a while."""

import time

import pytest
from nameko.events import event_handler
from nameko.standalone.rpc import ClusterRpcProxy

from shop.amqp import BrokerLink, BrokerUnreachable
from tests.outbox import unsent
from users.service import UsersService

received: list[dict] = []


class Listener:
    name = "outbox_listener"

    @event_handler("users", "user_created")
    def on_user_created(self, payload):
        received.append(payload)


def sign_up(config, n):
    with ClusterRpcProxy(config) as rpc:
        return rpc.users.create_user({"name": f"user{n}", "email": f"user{n}@example.com",
                                      "password": "correct horse"})


def until(check, seconds):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


@pytest.fixture
def start(container_factory, config):
    received.clear()

    def started(replicas=1, **overrides):
        merged = {**config, "BCRYPT_ROUNDS": 4, **overrides}
        container_factory(Listener, merged).start()
        for _ in range(replicas):
            container_factory(UsersService, merged).start()
        return merged
    return started


def test_an_event_leaves_at_once_after_the_write_with_its_id_and_time(start):
    config = start(OUTBOX_POLL_SECONDS=60)  # only the wake-up after the write can send it
    user = sign_up(config, 1)
    assert until(lambda: received, 2)
    (event,) = received
    assert event["id"] == user["id"] and len(event["event_id"]) == 36
    assert event["occurred_at"].endswith("+00:00")
    assert until(lambda: unsent(config, "users") == 0, 1)


def test_events_the_broker_refused_go_out_in_order_once_it_takes_them(start, monkeypatch):
    config = start(OUTBOX_POLL_SECONDS=0.2)
    real_publish = BrokerLink.publish_confirmed

    def refused(*args, **kwargs):
        raise BrokerUnreachable("the broker did not confirm the message")

    monkeypatch.setattr(BrokerLink, "publish_confirmed", refused)
    users = [sign_up(config, n) for n in range(5)]  # every sign-up still succeeds
    time.sleep(0.5)
    assert received == [] and unsent(config, "users") == 5
    monkeypatch.setattr(BrokerLink, "publish_confirmed", real_publish)
    assert until(lambda: len(received) == 5, 3)
    assert [event["id"] for event in received] == [user["id"] for user in users]
    assert unsent(config, "users") == 0


def test_two_replicas_relay_every_event_once_and_in_order(start):
    config = start(replicas=2, OUTBOX_POLL_SECONDS=0.1)
    users = [sign_up(config, n) for n in range(20)]
    assert until(lambda: len(received) >= 20, 5)
    time.sleep(0.5)  # nothing more comes
    assert [event["id"] for event in received] == [user["id"] for user in users]
    assert len({event["event_id"] for event in received}) == 20


def test_sent_events_are_kept_an_hour_then_dropped(container_factory, config):
    from datetime import timedelta

    from sqlalchemy import insert, select

    from shop.outbox import KEEP_SENT, EventOutbox
    from shop.schemas import utcnow
    from users.models import Outbox

    container = container_factory(UsersService, config)
    container.start()
    relay = next(ext for ext in container.dependencies if isinstance(ext, EventOutbox))
    now = utcnow()
    rows = [{"event_id": name, "event_type": "x", "payload": "{}", "headers": "{}",
             "occurred_at": now, "sent_at": sent_at}
            for name, sent_at in [("old", now - KEEP_SENT - timedelta(minutes=1)),
                                  ("recent", now - timedelta(minutes=1)), ("unsent", None)]]
    with relay.engine.begin() as connection:
        connection.execute(insert(Outbox), rows)
    relay.purge_sent()
    with relay.engine.connect() as connection:
        kept = set(connection.scalars(select(Outbox.c.event_id)))
    assert kept == {"recent", "unsent"}
