"""The gateway's Redis: nameko-redis with short timeouts, plus lean round trips for the
one command every request makes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import nameko_redis
import redis
import redis.connection
from redis.exceptions import NoScriptError, ResponseError
from redis.sentinel import Sentinel

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
    At most MAX_IDLE are kept between requests: a burst of connections (an attack on the
    edge) opens as many as run at once, bounded by HTTP_MAX_CONNECTIONS, and the rest are
    closed as they come back.
    """

    MAX_IDLE = 64  # above the benchmark's 50 concurrent readers: no churn at a steady load

    def __init__(self, connection_class: type, connection_kwargs: dict[str, Any]) -> None:
        self.connection_class = connection_class
        self.connection_kwargs = connection_kwargs
        self.idle: list[Any] = []

    def execute(self, *command: str | int | float) -> Any:
        finished = False
        if self.idle:
            connection = self.idle.pop()
        else:
            connection = self.connection_class(**self.connection_kwargs)
            # connect() first, as redis-py's pool does: a Sentinel-managed connection asks
            # the Sentinels for the master only there (sending a command on an unconnected
            # one would go to its default address, localhost:6379).
            try:
                connection.connect()
            except BaseException:
                connection.disconnect()
                raise
        try:
            connection.send_command(*command)
            reply = connection.read_response()
            finished = True
        except ResponseError:  # an error reply still ends the exchange cleanly
            finished = True
            raise
        finally:
            if finished and len(self.idle) < self.MAX_IDLE:
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
    """nameko-redis whose commands give up after REDIS_TIMEOUT_SECONDS, reaching Redis at
    REDIS_URI or, when REDIS_SENTINELS names Sentinels, at the master they name.

    Behind Sentinels every new connection asks them for the master, and a connection to
    a master that was demoted fails its command (redis-py turns the READONLY reply into
    a connection error) and is closed: the next one goes to the new master. Every key
    and script works on one master; Redis Cluster would need the keys of one script
    (a client's rate-limit counters) in one hash slot, which they are not yet.
    """

    round_trips: RoundTrips | None = None

    def setup(self) -> None:
        super().setup()
        self.settings = settings_of(self.container, GatewaySettings)
        timeout = self.settings.redis_timeout_seconds
        self.options.update(socket_timeout=timeout, socket_connect_timeout=timeout)

    def start(self) -> None:
        if self.settings.redis_sentinels:
            self.client = self._master_through_sentinels()
        else:
            super().start()
        pool = self.client.connection_pool
        self.round_trips = RoundTrips(pool.connection_class, pool.connection_kwargs)

    def _master_through_sentinels(self) -> redis.Redis:
        """A client of the master the Sentinels name, with REDIS_URI's database and
        credentials (its host and port are not used)."""
        uri = redis.connection.parse_url(self.redis_uri)
        timeouts = {key: self.options[key]
                    for key in ("socket_timeout", "socket_connect_timeout")}
        sentinel_auth = ({"password": self.settings.redis_sentinel_password}
                         if self.settings.redis_sentinel_password else {})
        sentinels = Sentinel([address_of(entry) for entry in self.settings.redis_sentinels],
                             sentinel_kwargs={**timeouts, **sentinel_auth})
        options = {key: value for key, value in uri.items()
                   if key in ("db", "username", "password")}
        client: redis.Redis = sentinels.master_for(
            self.settings.redis_sentinel_master, **{**self.options, **options})
        return client

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


def address_of(entry: str) -> tuple[str, int]:
    """(host, port) of a "host:port" in REDIS_SENTINELS; the port defaults to 26379."""
    host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "26379")
    return host.strip("[]"), int(port)
