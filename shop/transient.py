"""Failures that pass: a database, broker or service out of reach for a while.

Such a failure is not the caller's fault and not a bug, so an RPC answers it with a
typed ServiceUnavailable (HTTP 503) instead of a 500, and an event handler's event is
tried again until the dependency is back (shop.redelivery), not counted against it.

A database error is transient only when the database, not the statement, is at fault: a
lost or refused connection, a server shutting down, a lock or deadlock, a busy SQLite
file. A missing table or column, a constraint or a syntax error will fail the same way
every time: not transient.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from kombu.exceptions import OperationalError as BrokerError
from kombu.message import Message
from nameko.extensions import ProviderCollector
from nameko.messaging import QueueConsumer
from redis import ConnectionError as RedisConnectionError
from redis import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError as DatabaseInterfaceError
from sqlalchemy.exc import OperationalError as DatabaseError
from sqlalchemy.exc import TimeoutError as PoolExhausted

from shop.errors import ServiceTimeout, ServiceUnavailable
from shop.nameko_internals import (
    consuming_thread,
    forget_provider,
    has_consumed,
    registered_providers,
    release_pending_removals,
)
from shop.queues import mismatch_in

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (BrokerError, ConnectionError, RedisConnectionError, RedisTimeoutError,
                    ServiceUnavailable, ServiceTimeout,
                    PoolExhausted)  # every connection of the pool busy past the pool timeout
# SQLite's errors that pass: the file busy or out of reach for a moment.
SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error",
                    "unable to open database file")
# PostgreSQL's class 54, program limit exceeded, is the one OperationalError class a
# retry cannot help (psycopg2 raises OperationalError for classes 08, 40, 53-58 and more).
POSTGRES_NOT_TRANSIENT_CLASSES = ("54",)
# What talking to a broker that has just gone away may raise.
BROKER_GONE = (OSError, AMQPError, KombuError)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, DBAPIError):
        return _database_is_at_fault(error)
    return isinstance(error, TRANSIENT_ERRORS)


def _database_is_at_fault(error: DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    if not isinstance(error, (DatabaseError, DatabaseInterfaceError)):
        return False  # integrity, programming, data errors: the statement's fault
    cause = error.orig
    if isinstance(cause, sqlite3.OperationalError):
        message = str(cause).lower()
        return any(text in message for text in SQLITE_TRANSIENT)
    code = getattr(cause, "pgcode", None) or ""
    return not code.startswith(POSTGRES_NOT_TRANSIENT_CLASSES)


def as_unavailable(service_name: str, error: BaseException) -> ServiceUnavailable:
    """What a caller is told of a transient failure inside a service."""
    log.warning("%s could not answer, a dependency is out of reach: %s: %s",
                service_name, type(error).__name__, str(error).splitlines()[0][:200])
    return ServiceUnavailable(f"The {service_name} service cannot answer right now; "
                              "try again.", {"service": service_name})


class ConsumingAbandoned(Exception):
    """The last provider left while the consumer was reconnecting: stop trying."""


class SturdyQueueConsumer(QueueConsumer):
    """nameko's consumer, made to live with a broker that goes away.

    - An ack or requeue on a connection that just died is let go: the broker gives every
      unacknowledged message back by itself, while nameko's own consumer lets the error
      escape, which kills the whole service.
    - A stop while the broker is out of reach finishes. nameko cancels consumers only
      from its consuming loop, which does not turn while kombu retries the connection,
      so every entrypoint's stop waited for a broker that might never come back (a
      SIGTERM did nothing). With the connection gone there is nothing to cancel.
    """

    _offline = False  # between a failed connection attempt and the next consume

    @property
    def consuming(self) -> bool:
        """Connected, with every provider's queue consumed (what readiness reports)."""
        return has_consumed(self) and not self._offline

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        try:
            super().run(_tokens, **kwargs)
        except ConsumingAbandoned:
            log.info("stopped while the broker was out of reach")

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any,
                         **kwargs: Any) -> None:
        self._offline = False
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_connection_error(self, exc: BaseException, interval: float) -> None:
        self._offline = True
        release_pending_removals(self)
        if has_consumed(self) and not registered_providers(self):
            raise ConsumingAbandoned()  # out of kombu's retry loop, and out of run()
        super().on_connection_error(exc, interval)

    def unregister_provider(self, provider: Any) -> None:
        if not (self._offline and has_consumed(self)):
            super().unregister_provider(provider)
            return
        forget_provider(self, provider)  # the next connection will not consume for it
        ProviderCollector.unregister_provider(self, provider)
        thread = consuming_thread(self)
        if not registered_providers(self) and thread is not None:
            thread.kill(ConsumingAbandoned())  # it sleeps between connection attempts

    def get_consumers(self, consumer_cls: type, channel: Any) -> Any:
        try:
            return super().get_consumers(consumer_cls, channel)
        except BROKER_GONE as error:
            mismatch = mismatch_in(error)
            if mismatch is not None:
                raise mismatch from None
            raise

    def ack_message(self, message: Message) -> None:
        try:
            super().ack_message(message)
        except BROKER_GONE as error:
            log.warning("could not ack a message, the broker will deliver it again: %s", error)

    def requeue_message(self, message: Message) -> None:
        try:
            super().requeue_message(message)
        except BROKER_GONE as error:
            log.warning("could not requeue a message, the broker will deliver it again: %s",
                        error)
