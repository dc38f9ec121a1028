"""The gateway's per-request Redis commands (gateway.redis.RoundTrips) on a real Redis."""

import eventlet
import pytest
from redis.exceptions import ResponseError

from gateway.redis import LuaScript, RoundTrips


@pytest.fixture
def round_trips(redis_client):
    pool = redis_client.connection_pool
    trips = RoundTrips(pool.connection_class, pool.connection_kwargs)
    yield trips
    trips.close()


def test_an_interrupted_exchange_leaves_no_reply_for_the_next_caller(round_trips, redis_client):
    """What lets RoundTrips skip redis-py's poll on checkout: a connection whose exchange
    was cut short (here a killed green thread) is never handed out again as it is."""
    waiting = eventlet.spawn(round_trips.execute, "BLPOP", "queue", 5)
    eventlet.sleep(0.2)  # sent; its reply is still to come
    waiting.kill()
    redis_client.set("key", "value")
    with eventlet.Timeout(2):
        assert round_trips.execute("GET", "key") == "value"


def test_an_error_reply_keeps_the_connection(round_trips, redis_client):
    redis_client.set("name", "ada")
    with pytest.raises(ResponseError):
        round_trips.execute("INCR", "name")
    assert round_trips.execute("GET", "name") == "ada"
    assert len(round_trips.idle) == 1


def test_a_script_redis_forgot_is_sent_again(round_trips, redis_client):
    script = LuaScript("return redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])")
    assert round_trips.run_script(script, ["counter"], [10]) == 11
    redis_client.script_flush()  # as after a restart
    assert round_trips.run_script(script, ["counter"], [10]) == 12
