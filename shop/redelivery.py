"""Events a handler could not finish: tried again later, and dead-lettered after too many
failures, without holding up the events behind them.

A failed event is acked and a copy goes to a delay queue of its service
(`<service>.retry-<seconds>s`, a message TTL), which RabbitMQ dead-letters back to the
handler's own queue when the delay is over; the delays grow with each failure (1 s to 60 s).
Nothing waits in the consumer meanwhile: the queue keeps flowing.

A transient failure (a dependency out of reach: shop.transient) is retried until the
dependency is back, however long that takes: the event is not at fault. Any other failure
counts as an attempt; after EVENT_MAX_ATTEMPTS of them the event goes to the service's
dead-letter queue (`<service>.dead-letters`) with the error, the attempt count and its
queue in its headers, for an operator to inspect and replay (`python -m shop.deadletters`).

Handlers without reliable delivery (the gateway's broadcasts) keep no queue of their own
across restarts: their failures are logged and the event dropped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import amqp
from kombu.entity import Queue
from kombu.message import Message
from nameko.events import EventHandler
from nameko.extensions import SharedExtension

from shop.amqp import PERSISTENT, BrokerLink, BrokerUnreachable
from shop.queues import (
    BrokerSettings,
    delay_arguments,
    durable,
    durable_arguments,
    mismatch_in,
)
from shop.settings import CallSettings, settings_of
from shop.transient import SturdyQueueConsumer, is_transient

if TYPE_CHECKING:
    from _typeshed import ExcInfo

log = logging.getLogger(__name__)

RETRY_DELAYS_SECONDS = (1, 2, 5, 10, 30, 60)
ATTEMPTS_HEADER = "x-shop-attempts"  # failures that count towards dead-lettering
TRIES_HEADER = "x-shop-tries"  # every failure, transient ones too: sets the next delay
ERROR_HEADER = "x-shop-error"
QUEUE_HEADER = "x-shop-queue"  # the handler queue the event was meant for
CONFIRM_SECONDS = 10.0


def retry_name(service: str, delay: int) -> str:
    return f"{service}.retry-{delay}s"


def dead_letter_queue(service: str) -> str:
    return f"{service}.dead-letters"


def delay_for(tries: int) -> int:
    """The wait before the next try after this many failed ones."""
    return RETRY_DELAYS_SECONDS[min(max(tries, 1), len(RETRY_DELAYS_SECONDS)) - 1]


def copy_of(message: Message, headers: dict[str, Any]) -> amqp.Message:
    """The event again, as it was published, with headers instead of its own."""
    properties = message.properties
    return amqp.Message(message.body, content_type=properties.get("content_type"),
                        content_encoding=properties.get("content_encoding"),
                        delivery_mode=PERSISTENT, application_headers=headers)


class Redelivery(SharedExtension):
    """The service's delay queues and dead-letter queue, declared on every connection of
    its broker link, and the publishing of events into them."""

    link = BrokerLink()

    def setup(self) -> None:
        self.service = self.container.service_name
        self.max_attempts = settings_of(self.container, CallSettings).event_max_attempts
        self.queue_type = settings_of(self.container, BrokerSettings).queue_type
        self.link.use(self)

    def on_connected(self, connection: amqp.Connection) -> None:
        try:
            self._declare(connection)
        except amqp.exceptions.PreconditionFailed as error:
            raise mismatch_in(error) or error from None

    def _declare(self, connection: amqp.Connection) -> None:
        channel = connection.channel()
        for delay in RETRY_DELAYS_SECONDS:
            name = retry_name(self.service, delay)
            # A fanout exchange keeps the routing key the copy was published with: the
            # handler's queue, where RabbitMQ dead-letters it once its time is up.
            channel.exchange_declare(name, "fanout", durable=True, auto_delete=False)
            channel.queue_declare(name, durable=True, auto_delete=False,
                                  arguments=delay_arguments(self.queue_type, delay))
            channel.queue_bind(name, name)
        channel.queue_declare(dead_letter_queue(self.service), durable=True,
                              auto_delete=False,
                              arguments=durable_arguments(self.queue_type))
        channel.close()

    def on_lost(self, error: Exception) -> None:
        """Nothing of its own to fail: the link fails the unconfirmed publishes."""

    def retry_later(self, message: Message, queue: str, error: BaseException) -> str:
        """Sends the event back to queue after a delay, or to the dead-letter queue once
        it has failed too often; says which. Raises BrokerUnreachable."""
        headers = dict(message.headers or {})
        failures = int(headers.get(ATTEMPTS_HEADER, 0)) + (0 if is_transient(error) else 1)
        tries = int(headers.get(TRIES_HEADER, 0)) + 1
        headers.update({ATTEMPTS_HEADER: failures, TRIES_HEADER: tries, QUEUE_HEADER: queue,
                        ERROR_HEADER: f"{type(error).__name__}: {error}"[:1000]})
        headers.pop("x-death", None)  # RabbitMQ's record of the delays: grows every time
        if failures >= self.max_attempts:
            self.link.publish_confirmed(copy_of(message, headers), "",
                                        dead_letter_queue(self.service), CONFIRM_SECONDS)
            return f"dead-lettered after {failures} attempts"
        delay = delay_for(tries)
        self.link.publish_confirmed(copy_of(message, headers), retry_name(self.service, delay),
                                    queue, CONFIRM_SECONDS)
        return f"tried again in {delay} s"


class RetryingEventHandler(EventHandler):
    """nameko's @event_handler, whose failed events are tried again later or
    dead-lettered (see the module), never lost and never spinning."""

    queue_consumer = SturdyQueueConsumer()
    redelivery = Redelivery()
    queue: Queue

    def setup(self) -> None:
        super().setup()
        if self.reliable_delivery:  # else the queue lives and dies with its connection
            self.queue = durable(self.queue, self.container)

    def handle_message_processed(self, message: Message, result: object = None,
                                 exc_info: ExcInfo | None = None) -> None:
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        error = exc_info[1]
        if not self.reliable_delivery:
            log.error("%s failed, event dropped (no reliable delivery): %s", self.method_name,
                      str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
            self.queue_consumer.ack_message(message)
            return
        try:
            outcome = self.redelivery.retry_later(message, self.queue.name, error)
        except BrokerUnreachable as lost:  # the broker gives the original back itself
            log.warning("%s failed and its event could not be set aside (%s); it will be "
                        "delivered again", self.method_name, lost)
            self.queue_consumer.requeue_message(message)
            return
        log.warning("%s failed, event %s: %s: %s", self.method_name, outcome,
                    type(error).__name__, str(error).splitlines()[0][:200] if str(error) else "")
        self.queue_consumer.ack_message(message)


event_handler = RetryingEventHandler.decorator
