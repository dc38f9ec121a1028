"""The gateway's way out: one drain however many routes stop, then closed."""

import time

import eventlet

from gateway.drain import CLOSED, DRAINING, SERVING, Drain


def test_the_first_stopping_route_drains_and_the_others_wait_for_it():
    closed_keep_alive = []
    drain = Drain(0.3, lambda: closed_keep_alive.append(True))
    assert drain.state == SERVING
    started = time.monotonic()
    routes = [eventlet.spawn(drain.run) for _ in range(5)]
    eventlet.sleep(0.05)
    assert drain.state == DRAINING and closed_keep_alive == [True]
    for route in routes:
        route.wait()
    assert drain.state == CLOSED
    assert 0.3 <= time.monotonic() - started < 1.0  # once, not five times


def test_no_drain_time_closes_at_once():
    drain = Drain(0, lambda: None)
    drain.run()
    assert drain.state == CLOSED
