"""Failures that pass: a database, broker or service out of reach for a while.

Such a failure is not the caller's fault and not a bug, so an RPC answers it with a
typed ServiceUnavailable (HTTP 503) instead of a 500, and an event handler puts its
event back to be handled again (after a pause) instead of dropping it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import eventlet
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from kombu.exceptions import OperationalError as BrokerError
from kombu.message import Message
from nameko.events import EventHandler
from nameko.messaging import QueueConsumer
from redis import ConnectionError as RedisConnectionError
from redis import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError as DatabaseInterfaceError
from sqlalchemy.exc import OperationalError as DatabaseError

from shop.errors import ServiceTimeout, ServiceUnavailable

if TYPE_CHECKING:
    from _typeshed import ExcInfo

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (DatabaseError, DatabaseInterfaceError, BrokerError, ConnectionError,
                    RedisConnectionError, RedisTimeoutError, ServiceUnavailable, ServiceTimeout)
RETRY_PAUSE_SECONDS = 1.0
# What talking to a broker that has just gone away may raise.
BROKER_GONE = (OSError, AMQPError, KombuError)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


def as_unavailable(service_name: str, error: BaseException) -> ServiceUnavailable:
    """What a caller is told of a transient failure inside a service."""
    log.warning("%s could not answer, a dependency is out of reach: %s: %s",
                service_name, type(error).__name__, str(error).splitlines()[0][:200])
    return ServiceUnavailable(f"The {service_name} service cannot answer right now; "
                              "try again.", {"service": service_name})


class SturdyQueueConsumer(QueueConsumer):
    """nameko's consumer, but an ack or requeue on a connection that just died is let go.

    The broker gives every unacknowledged message back by itself when a connection dies;
    nameko's own consumer lets the error escape instead, which kills the whole service.
    """

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


class RetryingEventHandler(EventHandler):
    """An event handler that keeps an event its handler could not finish for a transient
    reason: the event goes back on its queue after a pause and is handled again (so the
    handlers must be idempotent). Other failures are bugs: logged, and the event acked,
    so one bad event cannot spin for ever."""

    queue_consumer = SturdyQueueConsumer()

    def handle_message_processed(self, message: Message, result: object = None,
                                 exc_info: ExcInfo | None = None) -> None:
        if exc_info is not None and is_transient(exc_info[1]):
            log.warning("%s will be handled again: %s", self.method_name,
                        str(exc_info[1]).splitlines()[0][:200])
            eventlet.sleep(RETRY_PAUSE_SECONDS)  # keeps the redelivery from spinning
            self.queue_consumer.requeue_message(message)
        else:
            self.queue_consumer.ack_message(message)


event_handler = RetryingEventHandler.decorator
