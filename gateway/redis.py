"""The gateway's Redis: nameko-redis with short timeouts, plus lean round trips for the
one command every request makes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import nameko_redis
from redis.exceptions import NoScriptError, ResponseError

from gateway.settings import GatewaySettings
from shop.settings import settings_of


@dataclass(frozen=True)
class LuaScript:
    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


class RoundTrips:
    """One command and its reply at a time, on connections of its own: the rate limit
    count and cache read that every request makes.

    redis-py's pool polls each connection it hands out for unread data (a poll through
    eventlet's hub) and records pool metrics on every checkout: a third of the gateway's
    time on a cache hit. Here a connection goes back only after its reply was read in
    full, and one whose exchange failed or was interrupted is closed, so there is nothing
    left to poll for. Connections are redis-py's own (address, auth, database, timeouts).
    """

    def __init__(self, connection_class: type, connection_kwargs: dict[str, Any]) -> None:
        self.connection_class = connection_class
        self.connection_kwargs = connection_kwargs
        self.idle: list[Any] = []

    def execute(self, *command: str | int | float) -> Any:
        connection = (self.idle.pop() if self.idle
                      else self.connection_class(**self.connection_kwargs))
        finished = False
        try:
            connection.send_command(*command)
            reply = connection.read_response()
            finished = True
        except ResponseError:  # an error reply still ends the exchange cleanly
            finished = True
            raise
        finally:
            if finished:
                self.idle.append(connection)
            else:
                connection.disconnect()
        return reply

    def run_script(self, script: LuaScript, keys: list[Any], args: list[Any]) -> Any:
        try:
            return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted Redis: sending the text loads it again
            return self.execute("EVAL", script.text, len(keys), *keys, *args)

    def close(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            connection.disconnect()


class Redis(nameko_redis.Redis):
    """nameko-redis whose commands give up after REDIS_TIMEOUT_SECONDS."""

    round_trips: RoundTrips | None = None

    def setup(self) -> None:
        super().setup()
        timeout = settings_of(self.container, GatewaySettings).redis_timeout_seconds
        self.options.update(socket_timeout=timeout, socket_connect_timeout=timeout)

    def start(self) -> None:
        super().start()
        pool = self.client.connection_pool
        self.round_trips = RoundTrips(pool.connection_class, pool.connection_kwargs)

    def stop(self) -> None:
        self._close_round_trips()
        super().stop()

    def kill(self) -> None:
        self._close_round_trips()
        super().kill()

    def _close_round_trips(self) -> None:
        if self.round_trips is not None:
            self.round_trips.close()
            self.round_trips = None
