"""RPC with deadlines: nameko's in-service RpcProxy waits for ever; this one does not.

`self.rpc.users.get_user(user_id)` reads like nameko shell's `n.rpc.users.get_user(...)`.
A call to a service with no running instance fails at once with ServiceUnavailable; a
call not answered within its deadline fails with ServiceTimeout. The request message
expires with the deadline, so a service that comes back later does not act on a call
whose caller has already been told it failed, and a late reply is dropped because its
correlation id is no longer awaited.

Each call carries its absolute deadline (header `nameko.deadline`). A service answering
an RPC gives its own calls no more than what is left of its caller's deadline, so a
chain of calls fails together instead of working on after the first caller gave up.
"""

from __future__ import annotations

import logging
import time
import uuid

from nameko import constants
from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.extensions import DependencyProvider
from nameko.rpc import (
    MethodProxy,
    ReplyListener,
    Responder,
    Rpc,
    RpcConsumer,
    RpcReply,
    get_rpc_exchange,
)

from shop.errors import ServiceTimeout, ServiceUnavailable, ShopError
from shop.transient import BROKER_GONE, SturdyQueueConsumer, as_unavailable, is_transient

DEFAULT_TIMEOUT_SECONDS = 5.0
DEADLINE_KEY = "deadline"
INHERITED_SHARE = 0.8
RETRY_INTERVAL_SECONDS = 0.5

log = logging.getLogger(__name__)


class UnconfirmedPublisher(Publisher):
    use_confirms = False


class UnconfirmedResponder(Responder):
    publisher_cls = UnconfirmedPublisher


class ReplyingConsumer(RpcConsumer):
    """Sends replies without waiting for the broker's publish confirm.

    A confirm costs a broker round trip per call and guards nothing here: a reply that is
    lost is a call its caller's deadline ends (ServiceTimeout), confirmed or not. Requests
    keep confirms (with mandatory, they are how an absent service is noticed), and events
    keep them too: no one waits on an event, so only the confirm says it was stored.
    """

    queue_consumer = SturdyQueueConsumer()

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = UnconfirmedResponder(
            config[constants.AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
            config.get(constants.SERIALIZER_CONFIG_KEY, constants.DEFAULT_SERIALIZER),
            message, ssl=config.get(constants.AMQP_SSL_CONFIG_KEY),
            login_method=config.get(constants.LOGIN_METHOD_CONFIG_KEY))
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except BROKER_GONE as error:  # the caller's deadline tells it; the service lives on
            log.warning("could not send a reply, the broker is out of reach: %s", error)
            return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info


class RpcMethod(Rpc):
    """nameko's @rpc, replying through ReplyingConsumer; a transient failure inside (its
    database out of reach, say) is answered as ServiceUnavailable, not as a bug."""

    rpc_consumer = ReplyingConsumer()

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is not None and not isinstance(exc_info[1], ShopError) \
                and is_transient(exc_info[1]):
            error = as_unavailable(self.container.service_name, exc_info[1])
            exc_info = (type(error), error, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = RpcMethod.decorator


class SturdyReplyListener(ReplyListener):
    queue_consumer = SturdyQueueConsumer()


class DeadlineRpc(DependencyProvider):
    """Gives a worker `rpc.<service>.<method>(...)` calls bounded by RPC_TIMEOUT_SECONDS.

    observe, if given, is told of every call's outcome: (service, method, seconds, error).
    """

    rpc_reply_listener = SturdyReplyListener()

    def __init__(self, timeout: float | None = None, observe=None):
        self.timeout = timeout
        self.observe = observe

    def setup(self) -> None:
        if self.timeout is None:
            self.timeout = float(
                self.container.config.get("RPC_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))

    def get_dependency(self, worker_ctx) -> ClusterProxy:
        return ClusterProxy(worker_ctx, self.rpc_reply_listener, self.timeout, self.observe)


class ClusterProxy:
    def __init__(self, worker_ctx, reply_listener: ReplyListener, timeout: float, observe=None):
        self._worker_ctx = worker_ctx
        self._reply_listener = reply_listener
        self.timeout = timeout
        self.observe = observe

    def with_timeout(self, timeout: float) -> ClusterProxy:
        """The same proxy with another deadline (a health probe wants a short one)."""
        return ClusterProxy(self._worker_ctx, self._reply_listener, timeout, self.observe)

    def __getattr__(self, service_name: str) -> ServiceProxy:
        if service_name.startswith("_"):
            raise AttributeError(service_name)
        return ServiceProxy(self, service_name)


class ServiceProxy:
    def __init__(self, cluster: ClusterProxy, service_name: str):
        self._cluster = cluster
        self._service_name = service_name

    def __getattr__(self, method_name: str) -> DeadlineMethodProxy:
        if method_name.startswith("_"):
            raise AttributeError(method_name)
        cluster = self._cluster
        return DeadlineMethodProxy(
            cluster._worker_ctx, self._service_name, method_name, cluster._reply_listener,
            timeout=cluster.timeout, observe=cluster.observe)


class DeadlineMethodProxy(MethodProxy):
    def __init__(self, worker_ctx, service_name, method_name, reply_listener, timeout,
                 observe=None, **options):
        self.timeout = timeout
        self.observe = observe
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)

    def _call(self, *args, **kwargs) -> DeadlineReply:
        started = time.monotonic()
        try:
            reply = self._send(*args, **kwargs)
        except Exception as error:
            self._observed(started, error)
            raise
        reply.started = started
        return reply

    def _observed(self, started: float, error: Exception | None) -> None:
        if self.observe is not None:
            self.observe(self.service_name, self.method_name, time.monotonic() - started, error)

    def _remaining_seconds(self) -> float:
        """This call's timeout, cut to part of what remains of the caller's deadline: the
        rest is left for answering the caller before it gives up."""
        inherited = self.worker_ctx.context_data.get(DEADLINE_KEY)
        if isinstance(self.worker_ctx.entrypoint, Rpc) and isinstance(inherited, (int, float)):
            return min(self.timeout, (inherited - time.time()) * INHERITED_SHARE)
        return self.timeout

    def _send(self, *args, **kwargs) -> DeadlineReply:
        timeout = self._remaining_seconds()
        if timeout <= 0:
            raise ServiceTimeout(f"No time left to call the {self.service_name} service.",
                                 {"service": self.service_name, "method": self.method_name})
        deadline = time.monotonic() + timeout
        headers = self.get_message_headers(self.worker_ctx)
        headers[f"{self.header_prefix}.{DEADLINE_KEY}"] = time.time() + timeout
        correlation_id = str(uuid.uuid4())
        exchange = get_rpc_exchange(self.container.config)
        reply_event = self.reply_listener.get_reply_event(correlation_id)
        try:
            # mandatory + publish confirms make an unroutable call (no service) fail here.
            self.publisher.publish(
                {"args": args, "kwargs": kwargs},
                exchange=exchange,
                routing_key=f"{self.service_name}.{self.method_name}",
                mandatory=True,
                reply_to=self.reply_listener.routing_key,
                correlation_id=correlation_id,
                extra_headers=headers,
                expiration=timeout,
                # A fresh broker has no RPC exchange until something declares it.
                declare=[exchange],
                # Reconnecting to a broker that went away is tried only while the deadline
                # allows, not for the publisher's default of several seconds.
                retry_policy={"max_retries": max(int(timeout / RETRY_INTERVAL_SECONDS), 1),
                              "interval_start": 0, "interval_step": RETRY_INTERVAL_SECONDS,
                              "interval_max": RETRY_INTERVAL_SECONDS},
            )
        except UndeliverableMessage:
            self.reply_listener._reply_events.pop(correlation_id, None)
            raise ServiceUnavailable(
                f"The {self.service_name} service is not available.",
                {"service": self.service_name}) from None
        except BROKER_GONE as error:
            self.reply_listener._reply_events.pop(correlation_id, None)
            log.warning("could not call %s.%s, the broker is out of reach: %s",
                        self.service_name, self.method_name, error)
            raise ServiceUnavailable(
                f"The {self.service_name} service cannot be reached right now; try again.",
                {"service": self.service_name}) from None
        return DeadlineReply(reply_event, self, correlation_id, deadline, timeout)


class DeadlineReply(RpcReply):
    started = 0.0

    def __init__(self, reply_event, proxy: DeadlineMethodProxy, correlation_id: str,
                 deadline: float, timeout: float):
        super().__init__(reply_event)
        self.proxy = proxy
        self.correlation_id = correlation_id
        self.deadline = deadline
        self.timeout = timeout

    def forget(self) -> None:
        """Stops waiting for the reply (for calls made only for their effect)."""
        self.proxy.reply_listener._reply_events.pop(self.correlation_id, None)

    def result(self):
        try:
            result = self._result()
        except Exception as error:
            self.proxy._observed(self.started, error)
            raise
        self.proxy._observed(self.started, None)
        return result

    def _result(self):
        if self.resp_body is None:
            remaining = max(self.deadline - time.monotonic(), 0)
            self.resp_body = self.reply_event.wait(timeout=remaining)
            if self.resp_body is None:
                self.proxy.reply_listener._reply_events.pop(self.correlation_id, None)
                raise ServiceTimeout(
                    f"The {self.proxy.service_name} service did not answer in time.",
                    {"service": self.proxy.service_name, "method": self.proxy.method_name,
                     "timeout_seconds": round(self.timeout, 3)})
        return super().result()
