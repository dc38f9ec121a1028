"""Events out: `self.dispatch("order_placed", payload)`, on the container's long-lived link.

Like nameko's EventDispatcher (the same exchange, `<service>.events`, the same headers,
persistent messages), but the exchange is declared once per connection instead of on
every publish, and the publish waits only for its own confirm while other workers'
messages are in flight on the same channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import amqp
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from nameko.messaging import HeaderEncoder
from nameko.standalone.events import get_event_exchange

from shop.amqp import PERSISTENT, BrokerLink, make_message
from shop.settings import CallSettings, settings_of

Dispatch = Callable[[str, Any], None]  # (event type, payload)


class EventDispatcher(DependencyProvider, HeaderEncoder):
    """Injects `dispatch(event_type, payload)`: returns once the broker has the event,
    raises BrokerUnreachable (transient: a 503 to the caller) if it cannot get it there
    within EVENT_CONFIRM_SECONDS."""

    link = BrokerLink()

    if TYPE_CHECKING:  # what a worker finds in the attribute: nameko injects it
        def __get__(self, instance: object, owner: type | None = None) -> Dispatch: ...

    def setup(self) -> None:
        config = self.container.config
        self.exchange = get_event_exchange(self.container.service_name, config)
        self.confirm_seconds = settings_of(self.container, CallSettings).event_confirm_seconds
        self.link.use(self)

    def on_connected(self, connection: amqp.Connection) -> None:
        channel = connection.channel()
        self.exchange(channel).declare()
        channel.close()

    def on_lost(self, error: Exception) -> None:
        """Nothing of its own to fail: the link fails the unconfirmed publishes."""

    def get_dependency(self, worker_ctx: WorkerContext) -> Dispatch:
        headers = self.get_message_headers(worker_ctx)

        def dispatch(event_type: str, payload: object) -> None:
            self.link.publish_confirmed(
                make_message(payload, self.link.serializer, PERSISTENT, headers),
                self.exchange.name, event_type, self.confirm_seconds)

        return dispatch
