"""A poison event is tried EVENT_MAX_ATTEMPTS times with growing delays, then set aside in
its service's dead-letter queue; the events behind it flow meanwhile; a replay after the
fix is handled once. A dependency out of reach is waited out, never dead-lettered."""

import time

import pytest
from nameko.standalone.events import event_dispatcher

from shop.deadletters import list_letters, replay
from shop.errors import ServiceUnavailable
from shop.redelivery import event_handler

handled: list[dict] = []
failures: list[dict] = []
state = {"broken": True, "unavailable_for": 0}


class Listener:
    name = "listener"

    @event_handler("publisher", "thing_happened")
    def on_thing(self, payload):
        if payload.get("poison") and state["broken"]:
            failures.append(payload)
            raise ValueError("this handler cannot read the event yet")
        if payload.get("needs_dependency") and state["unavailable_for"] > 0:
            state["unavailable_for"] -= 1
            failures.append(payload)
            raise ServiceUnavailable("the dependency is out of reach")
        handled.append(payload)


@pytest.fixture
def listener(container_factory, config):
    handled.clear()
    failures.clear()
    state.update(broken=True, unavailable_for=0)

    def start(**overrides):
        merged = {**config, **overrides}
        container_factory(Listener, merged).start()
        return event_dispatcher(merged)
    return start


def until(check, seconds):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def test_a_poison_event_is_dead_lettered_while_the_rest_flow_then_replayed_once(
        listener, config):
    dispatch = listener(EVENT_MAX_ATTEMPTS=3)
    dispatch("publisher", "thing_happened", {"n": 0, "poison": True})
    for n in range(1, 6):
        dispatch("publisher", "thing_happened", {"n": n})
    # The five behind the poison are handled at once, not after its retries.
    assert until(lambda: len(handled) == 5, 1.5), handled
    assert len(failures) == 1
    # Tried again after 1 s and 2 s, then set aside: three attempts in all.
    assert until(lambda: list_letters(config["AMQP_URI"], "listener"), 8)
    (letter,) = list_letters(config["AMQP_URI"], "listener")
    assert letter["attempts"] == 3 and len(failures) == 3
    assert letter["error"].startswith("ValueError: this handler cannot read")
    assert letter["queue"] == "evt-publisher-thing_happened--listener.on_thing"
    assert '"poison": true' in letter["body"]

    state["broken"] = False  # the fix is deployed
    assert replay(config["AMQP_URI"], "listener") == 1
    assert until(lambda: len(handled) == 6, 3)
    time.sleep(0.5)
    assert [event["n"] for event in handled] == [1, 2, 3, 4, 5, 0]  # once, not more
    assert list_letters(config["AMQP_URI"], "listener") == []


def test_a_dependency_out_of_reach_is_waited_out_not_counted(listener, config):
    state["unavailable_for"] = 2
    dispatch = listener(EVENT_MAX_ATTEMPTS=1)  # one real failure would dead-letter it
    dispatch("publisher", "thing_happened", {"n": 7, "needs_dependency": True})
    assert until(lambda: handled, 6), failures
    assert len(failures) == 2 and handled == [{"n": 7, "needs_dependency": True}]
    assert list_letters(config["AMQP_URI"], "listener") == []
