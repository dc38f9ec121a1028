"""Answering calls: the RPC entrypoint of every service method.

`@rpc_method` is nameko's `@rpc` with the shop's typed errors expected (sent back to the
caller as themselves, not logged as failures). Replies go out on the container's
long-lived BrokerLink (shop.amqp), unconfirmed; a transient failure inside a method (its
database out of reach, say) is answered as ServiceUnavailable.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from kombu.entity import Queue
from kombu.message import Message
from kombu.serialization import registry as serializers
from nameko.containers import WorkerContext
from nameko.exceptions import UnserializableValueError, serialize
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange

from shop.amqp import TRANSIENT, BrokerLink, BrokerUnreachable, make_message
from shop.errors import DOMAIN_ERRORS, ShopError
from shop.queues import durable
from shop.transient import SturdyQueueConsumer, as_unavailable, is_transient

if TYPE_CHECKING:
    from _typeshed import ExcInfo

log = logging.getLogger(__name__)
Outcome = tuple[Any, "ExcInfo | None"]  # what nameko's handle_result passes on


class ReplyingConsumer(RpcConsumer):
    """Sends replies on the container's long-lived link, without publisher confirms.

    A confirm would cost a broker round trip per call and guard nothing: a reply that
    is lost is a call its caller's deadline ends (ServiceTimeout), confirmed or not.
    """

    queue_consumer = SturdyQueueConsumer()
    link = BrokerLink()
    queue: Queue

    def setup(self) -> None:
        super().setup()
        self.queue = durable(self.queue, self.container)
        self.exchange = get_rpc_exchange(self.container.config).name

    def handle_result(self, message: Message, result: Any,
                      exc_info: ExcInfo | None) -> Outcome:
        result, exc_info, payload = self._reply_payload(message, result, exc_info)
        properties = message.properties
        try:
            self.link.publish(make_message(
                payload, serializers.type_to_name[properties["content_type"]], TRANSIENT, {},
                correlation_id=properties.get("correlation_id")),
                self.exchange, properties["reply_to"])
        except BrokerUnreachable as error:  # the caller's deadline tells it
            log.warning("could not send a reply: %s", error)
        # Acked even when the reply was lost: the call ran, and running it again on
        # redelivery would repeat its effects.
        self.queue_consumer.ack_message(message)
        return result, exc_info

    @staticmethod
    def _reply_payload(message: Message, result: Any,
                       exc_info: ExcInfo | None) -> tuple[Any, ExcInfo | None, dict[str, Any]]:
        """(result, exc_info, payload); a result that cannot be serialized becomes an
        UnserializableValueError instead of killing the container."""
        serializer = serializers.type_to_name[message.properties["content_type"]]
        try:
            serializers.dumps(result, serializer)
        except Exception:
            error = serialize(UnserializableValueError(result))
            failure: ExcInfo = sys.exc_info()  # type: ignore[assignment]  # inside except
            return None, failure, {"result": None, "error": error}
        error = serialize(exc_info[1]) if exc_info is not None else None
        return result, exc_info, {"result": result, "error": error}


class RpcMethod(Rpc):
    """nameko's @rpc, replying through ReplyingConsumer; a transient failure inside (its
    database out of reach, say) is answered as ServiceUnavailable, not as a bug."""

    rpc_consumer = ReplyingConsumer()

    def handle_result(self, message: Message, worker_ctx: WorkerContext, result: Any,
                      exc_info: ExcInfo | None) -> Outcome:
        if exc_info is not None and not isinstance(exc_info[1], ShopError) \
                and is_transient(exc_info[1]):
            error = as_unavailable(self.container.service_name, exc_info[1])
            exc_info = (type(error), error, exc_info[2])
        outcome: Outcome = super().handle_result(message, worker_ctx, result, exc_info)
        return outcome


rpc = RpcMethod.decorator

# What every service's methods are decorated with.
rpc_method = rpc(expected_exceptions=DOMAIN_ERRORS)
