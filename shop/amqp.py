"""One long-lived broker connection per service container, for everything it publishes.

nameko publishes through a pooled producer per message and waits for each confirm in
turn. Here one connection stays open: one green thread reads it (confirms, returned
messages, RPC replies, heartbeats), publishers only write, and a confirm or a
`basic.return` is matched to its message when it arrives, so many messages are in
flight at once. When the connection is lost every message still waiting is failed at
once, and the link reconnects with backoff, announcing each new connection to its users
(which declare what they need on it: a reply queue, an exchange).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import amqp
import eventlet
import kombu.serialization
from amqp import Message
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from kombu.connection import Connection
from nameko import constants
from nameko.extensions import SharedExtension

from shop.queues import BrokerSettings
from shop.settings import settings_of
from shop.transient import BROKER_GONE

log = logging.getLogger(__name__)

FIRST_CONNECT_WAIT_SECONDS = 10
BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)
TICK_SECONDS = 1.0  # how often heartbeats are checked while the connection is idle
TRANSIENT, PERSISTENT = 1, 2


class BrokerUnreachable(ConnectionError):
    """The broker did not take a message: no connection, a connection lost before the
    confirm, or a nack. Transient (shop.transient): the caller is told 503."""


class LinkUser(Protocol):
    def on_connected(self, connection: amqp.Connection) -> None:
        """Declares what this user needs on a new connection (the reader is not yet
        running, so synchronous AMQP methods are safe here)."""

    def on_lost(self, error: Exception) -> None:
        """Fails whatever this user still waits for on the lost connection."""


def encode(payload: object, serializer: str) -> tuple[bytes, dict[str, Any]]:
    """The body and content properties of a payload, as kombu's serializers make them."""
    content_type, content_encoding, body = kombu.serialization.dumps(payload, serializer)
    if isinstance(body, str):
        body = body.encode(content_encoding or "utf-8")
    return body, {"content_type": content_type, "content_encoding": content_encoding}


def decode(message: Message) -> Any:
    return kombu.serialization.loads(
        message.body, message.properties.get("content_type"),
        message.properties.get("content_encoding"), accept=None)


class BrokerLink(SharedExtension):
    """The container's one publishing connection: a confirmed channel (requests, events)
    and a plain one (RPC replies), kept up by one reader green thread."""

    def __init__(self) -> None:
        super().__init__()
        self.users: list[LinkUser] = []
        # delivery tag -> (on_confirm, correlation id); correlation id -> on_return
        self._unconfirmed: dict[int, tuple[Callable[[bool], None], str | None]] = {}
        self._returnable: dict[str, Callable[[], None]] = {}
        self._write = Semaphore()
        self._ready = Event()
        self._connection: amqp.Connection | None = None
        self._confirmed: amqp.Channel | None = None
        self._plain: amqp.Channel | None = None
        self._next_tag = 1
        self._running = False
        self._reader: eventlet.greenthread.GreenThread | None = None

    def setup(self) -> None:
        config = self.container.config
        self.serializer = config.get(constants.SERIALIZER_CONFIG_KEY,
                                     constants.DEFAULT_SERIALIZER)
        self.heartbeat = settings_of(self.container, BrokerSettings).heartbeat
        self._broker = Connection(
            config[constants.AMQP_URI_CONFIG_KEY], heartbeat=self.heartbeat,
            ssl=config.get(constants.AMQP_SSL_CONFIG_KEY),
            login_method=config.get(constants.LOGIN_METHOD_CONFIG_KEY),
            transport_options=dict(config.get(constants.TRANSPORT_OPTIONS_CONFIG_KEY) or {}))

    def start(self) -> None:
        self._running = True
        self._reader = self.container.spawn_managed_thread(self._keep_connected)
        self.wait_ready(FIRST_CONNECT_WAIT_SECONDS)  # the first calls need not wait

    def stop(self) -> None:
        """Closes the connection politely (the broker drops the reply queue with it)."""
        self._halt()
        try:
            self._broker.release()
        except BROKER_GONE as error:
            log.debug("closing the broker connection: %s", error)

    def kill(self) -> None:
        self._halt()
        self._broker.collect()

    def _halt(self) -> None:
        """Stops the reader first: closing waits for the broker's answer, and only one
        green thread may read the socket."""
        self._running = False
        if self._reader is not None:
            self._reader.kill()
        if self._ready.ready():
            self._ready = Event()

    def use(self, user: LinkUser) -> None:
        """Registers a user; call it from setup(), before the first connection (its
        on_connected runs on the reader's green thread, the only one that may read)."""
        self.users.append(user)

    # --- publishing --------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        if not self._ready.ready():
            with eventlet.Timeout(max(timeout, 0), False):
                self._ready.wait()
        return bool(self._ready.ready())

    def publish(self, message: Message, exchange: str, routing_key: str,
                mandatory: bool = False, on_confirm: Callable[[bool], None] | None = None,
                on_return: Callable[[], None] | None = None) -> None:
        """Writes a message. With on_confirm it goes on the confirmed channel, and
        on_confirm is told later whether the broker took it; on_return is called instead
        if the broker returns it as unroutable (matched by correlation id). Raises
        BrokerUnreachable when not connected."""
        with self._write:
            channel = self._plain if on_confirm is None else self._confirmed
            if channel is None or not self._ready.ready():
                raise BrokerUnreachable("not connected to the broker")
            if on_confirm is not None:
                correlation_id = message.properties.get("correlation_id")
                self._unconfirmed[self._next_tag] = (on_confirm, correlation_id)
                self._next_tag += 1
                if on_return is not None:
                    self._returnable[correlation_id] = on_return
            try:
                channel.basic_publish(message, exchange, routing_key, mandatory)
            except BROKER_GONE as error:
                raise BrokerUnreachable(f"the broker connection failed: {error}") from None

    def publish_confirmed(self, message: Message, exchange: str, routing_key: str,
                          timeout: float) -> None:
        """Publishes and waits for the broker's confirm; raises BrokerUnreachable if the
        broker cannot be reached within timeout or does not take the message."""
        started = time.monotonic()
        if not self.wait_ready(timeout):
            raise BrokerUnreachable("no connection to the broker")
        confirmed = Event()
        self.publish(message, exchange, routing_key, on_confirm=confirmed.send)
        taken = None
        with eventlet.Timeout(max(timeout - (time.monotonic() - started), 0), False):
            taken = confirmed.wait()
        if not taken:
            raise BrokerUnreachable("the broker did not confirm the message")

    # --- the reader --------------------------------------------------------------

    def _keep_connected(self) -> None:
        failures = 0
        while self._running:
            try:
                self._connect()
                failures = 0
                self._read()
            except BROKER_GONE as error:
                if self._running:
                    log.warning("broker connection lost: %s", error)
                self._lost(BrokerUnreachable(f"the broker connection was lost: {error}"))
                if self._running:
                    eventlet.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                    failures += 1

    def _connect(self) -> None:
        self._broker.ensure_connection(max_retries=1)  # moves to the next node on failure
        connection = self._broker.connection
        confirmed = connection.channel()
        confirmed.confirm_select()
        confirmed.events["basic_ack"].add(self._on_ack)
        confirmed.events["basic_nack"].add(self._on_nack)
        confirmed.events["basic_return"].add(self._on_return)
        self._connection, self._confirmed, self._plain = connection, confirmed, connection.channel()
        self._next_tag = 1
        for user in self.users:
            user.on_connected(connection)
        self._ready.send(True)

    def _read(self) -> None:
        connection = self._connection
        assert connection is not None, "_connect() came first"
        ticked = time.monotonic()
        while self._running:
            try:
                connection.drain_events(timeout=TICK_SECONDS)
            except TimeoutError:
                pass
            if time.monotonic() - ticked >= TICK_SECONDS:
                ticked = time.monotonic()
                with self._write:
                    connection.heartbeat_tick()

    def _lost(self, error: Exception) -> None:
        if self._ready.ready():
            self._ready = Event()
        self._confirmed = self._plain = None
        waiting, self._unconfirmed = self._unconfirmed, {}
        self._returnable.clear()
        for on_confirm, _ in waiting.values():
            on_confirm(False)
        for user in self.users:
            user.on_lost(error)
        self._broker.collect()  # drops the dead socket without talking to the broker

    # --- what the broker says of published messages -------------------------------

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, True)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, False)

    def _settle(self, tag: int, multiple: bool, taken: bool) -> None:
        tags = [tag] if not multiple else [t for t in self._unconfirmed if t <= tag]
        for settled in tags:
            if settled not in self._unconfirmed:
                continue
            on_confirm, correlation_id = self._unconfirmed.pop(settled)
            if correlation_id is not None:
                self._returnable.pop(correlation_id, None)  # a return comes before the ack
            on_confirm(taken)

    def _on_return(self, error: Exception, exchange: str, routing_key: str,
                   message: Message) -> None:
        on_return = self._returnable.pop(message.properties.get("correlation_id"), None)
        if on_return is not None:
            on_return()
        else:
            log.warning("the broker returned a message to %s/%s: %s",
                        exchange, routing_key, error)


def make_message(payload: object, serializer: str, delivery_mode: int,
                 headers: dict[str, Any], **properties: Any) -> Message:
    body, content = encode(payload, serializer)
    return Message(body, delivery_mode=delivery_mode, application_headers=headers,
                   **content, **properties)
