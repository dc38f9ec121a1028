"""Where messages wait: quorum queues, which outlive the broker node they started on.

Every queue that must outlive a connection (a service's RPC queue, its event handlers'
queues, its delay and dead-letter queues) is declared with the type QUEUE_TYPE names.
`quorum`, the default, keeps a copy on each of a cluster's nodes (on one node it is a
cluster of one): the queue and its messages survive the loss of any minority of nodes,
and its consumers carry on from another node. `classic` is only for a deployment whose
queues were declared classic and not yet moved (the README says how).

Queues bound to one connection stay classic, exclusive or auto-deleting: RPC reply queues
(a fresh name on every connection, shop.rpc) and the gateway's broadcast queues. The
broker drops them with the connection, or with the node that held them, so a client that
reconnects elsewhere declares them afresh.

No delivery limit is set: a handler's failures are counted in the message's own headers
and retried through the delay queues (shop.redelivery), which ack the delivery each
time, so the broker's count grows only when a consumer dies holding a message.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from amqp.exceptions import PreconditionFailed
from kombu.entity import Queue
from nameko.containers import ServiceContainer
from nameko.exceptions import ConfigurationError

from shop.settings import Settings, at_least, one_of, settings_of

QUORUM, CLASSIC = "quorum", "classic"


@dataclasses.dataclass(frozen=True)
class BrokerSettings(Settings):
    """How every process talks to RabbitMQ (AMQP_URI may list several nodes: `;`)."""

    # quorum (replicated over the cluster's nodes) or classic (a deployment not moved).
    queue_type: str = dataclasses.field(metadata=one_of(QUORUM, CLASSIC))
    # Seconds between AMQP heartbeats: a node that stops answering is given up after
    # about two of them, and the connection moves to the next node. 0 turns them off.
    heartbeat: float = dataclasses.field(metadata=at_least(0))


class QueueTypeMismatch(ConfigurationError):
    """A queue exists with another type than QUEUE_TYPE: the service stops at start-up
    instead of retrying a declaration the broker will always refuse."""


def mismatch_in(error: Exception) -> QueueTypeMismatch | None:
    """The mismatch a refused declaration reports, if that is why it was refused."""
    if not isinstance(error, PreconditionFailed) or "x-queue-type" not in str(error):
        return None
    return QueueTypeMismatch(
        f"{error}. This broker holds queues of another type than QUEUE_TYPE: declared "
        "before quorum queues were the default? Move to quorum queues on a new vhost (see "
        "README, 'Running on a cluster'), or set QUEUE_TYPE=classic until then.")


def durable_arguments(queue_type: str) -> dict[str, Any]:
    """The declare arguments of a queue that outlives connections. A classic queue gets
    none, so queues declared before QUEUE_TYPE existed stay equivalent."""
    return {"x-queue-type": QUORUM} if queue_type == QUORUM else {}


def delay_arguments(queue_type: str, delay_seconds: int) -> dict[str, Any]:
    """A delay queue's arguments: its messages expire after the delay and are
    dead-lettered, through the default exchange, to the queue their routing key names.
    A quorum queue dead-letters at least once: a message leaves it only when the target
    queue has confirmed it, so a node lost at that moment loses no event."""
    arguments = {**durable_arguments(queue_type), "x-message-ttl": delay_seconds * 1000,
                 "x-dead-letter-exchange": ""}
    if queue_type == QUORUM:
        arguments.update({"x-dead-letter-strategy": "at-least-once",
                          "x-overflow": "reject-publish"})  # what at-least-once requires
    return arguments


def durable(queue: Queue, container: ServiceContainer) -> Queue:
    """nameko's declaration of a durable queue, with the configured queue type."""
    queue_type = settings_of(container, BrokerSettings).queue_type
    return Queue(queue.name, exchange=queue.exchange, routing_key=queue.routing_key,
                 durable=True, auto_delete=False,
                 queue_arguments={**(getattr(queue, "queue_arguments", None) or {}),
                                  **durable_arguments(queue_type)})
