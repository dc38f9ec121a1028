"""Calling other services: RPC with deadlines over one long-lived connection per process.

`self.rpc.users.get_user(user_id)` reads like nameko shell's `n.rpc.users.get_user(...)`.
A call to a service with no running instance fails at once with ServiceUnavailable
(the broker returns the unroutable request); a call not answered within its deadline
fails with ServiceTimeout. The request expires with the deadline, so a service that
comes back later does not act on a call whose caller has already been told it failed,
and a late reply is dropped because its correlation id is no longer awaited.

Each call carries its absolute deadline (header `nameko.deadline`). A service answering
an RPC gives its own calls no more than what is left of its caller's deadline, so a
chain of calls fails together instead of working on after the first caller gave up.

Requests go out on the container's BrokerLink (shop.amqp): no publisher, pooled producer
or confirm wait per call. Answering calls is shop.entrypoints.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import amqp
from eventlet.event import Event
from nameko.containers import WorkerContext
from nameko.exceptions import deserialize
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.messaging import HeaderEncoder
from nameko.rpc import Rpc, get_rpc_exchange
from opentelemetry.trace import Span

from shop import tracing
from shop.amqp import TRANSIENT, BrokerLink, BrokerUnreachable, decode, make_message
from shop.errors import ServiceTimeout, ServiceUnavailable
from shop.settings import CallSettings, settings_of

DEADLINE_KEY = "deadline"
INHERITED_SHARE = 0.8
REPLY_QUEUE_PREFIX = "rpc.reply"

log = logging.getLogger(__name__)
# Told of every call's outcome: (service, method, seconds, error or None).
Observer = Callable[[str, str, float, Exception | None], None]


class PendingCall:
    """A call waiting for its reply: settled once, by a reply, a return or a lost link."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        self._settled = Event()

    def reply(self, body: dict[str, Any]) -> None:
        if not self._settled.ready():
            self._settled.send(body)

    def fail(self, error: Exception) -> None:
        if not self._settled.ready():
            self._settled.send_exception(error)

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """The reply's body; None if none came within timeout."""
        body: dict[str, Any] = self._settled.wait(timeout)  # raises what fail() was given
        return body if self._settled.ready() else None


class RpcClient(SharedExtension):
    """The container's calls: requests published mandatory on the link's confirmed
    channel, replies consumed without acks from one exclusive queue per connection."""

    link = BrokerLink()

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, PendingCall] = {}
        self.reply_to: str | None = None

    def setup(self) -> None:
        self.exchange = get_rpc_exchange(self.container.config)
        self.link.use(self)

    def on_connected(self, connection: amqp.Connection) -> None:
        """A fresh reply queue on every connection: the old one died with the last."""
        channel = connection.channel()
        self.exchange(channel).declare()
        name = f"{REPLY_QUEUE_PREFIX}-{self.container.service_name}-{uuid.uuid4().hex}"
        channel.queue_declare(name, exclusive=True, auto_delete=True)
        channel.queue_bind(name, self.exchange.name, routing_key=name)
        channel.basic_consume(name, no_ack=True, callback=self._on_reply)
        self.reply_to = name

    def on_lost(self, error: Exception) -> None:
        self.reply_to = None
        waiting, self.pending = self.pending, {}
        for call in waiting.values():
            call.fail(_unreachable(call.service_name))

    def call(self, service_name: str, method_name: str, args: tuple[Any, ...],
             kwargs: dict[str, Any], headers: dict[str, Any],
             timeout: float) -> tuple[str, PendingCall]:
        """Sends a request; returns its correlation id and the call awaiting its reply."""
        if not self.link.wait_ready(timeout):
            raise _unreachable(service_name)
        correlation_id = uuid.uuid4().hex
        call = PendingCall(service_name)
        message = make_message(
            {"args": args, "kwargs": kwargs}, self.link.serializer, TRANSIENT, headers,
            correlation_id=correlation_id, reply_to=self.reply_to,
            expiration=str(max(int(timeout * 1000), 1)))
        self.pending[correlation_id] = call

        def on_confirm(taken: bool) -> None:
            if not taken:
                self._fail(correlation_id, _unreachable)

        try:
            self.link.publish(
                message, self.exchange.name, f"{service_name}.{method_name}", mandatory=True,
                on_confirm=on_confirm,
                on_return=lambda: self._fail(correlation_id, _not_running))
        except BrokerUnreachable as error:
            self.forget(correlation_id)
            log.warning("could not call %s.%s: %s", service_name, method_name, error)
            raise _unreachable(service_name) from None
        return correlation_id, call

    def forget(self, correlation_id: str) -> None:
        self.pending.pop(correlation_id, None)

    def _on_reply(self, message: amqp.Message) -> None:
        call = self.pending.pop(message.properties.get("correlation_id"), None)
        if call is None:
            log.debug("a reply for a call no longer awaited")
            return
        try:
            call.reply(decode(message))
        except Exception as error:  # a reply that cannot be read fails its call alone
            call.fail(ServiceUnavailable(f"An unreadable reply from {call.service_name}: "
                                         f"{error}", {"service": call.service_name}))

    def _fail(self, correlation_id: str,
              error_for: Callable[[str], ServiceUnavailable]) -> None:
        call = self.pending.pop(correlation_id, None)
        if call is not None:
            call.fail(error_for(call.service_name))


def _not_running(service_name: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"The {service_name} service is not available.",
                              {"service": service_name})


def _unreachable(service_name: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The {service_name} service cannot be reached right now; try again.",
        {"service": service_name})


class DeadlineRpc(DependencyProvider):
    """Gives a worker `rpc.<service>.<method>(...)` calls bounded by RPC_TIMEOUT_SECONDS
    (or the timeout given).

    observe, if given, is told of every call's outcome: (service, method, seconds, error).
    """

    client = RpcClient()

    if TYPE_CHECKING:  # what a worker finds in the attribute: nameko injects it
        def __get__(self, instance: object, owner: type | None = None) -> ServicesProxy: ...

    def __init__(self, timeout: float | None = None, observe: Observer | None = None) -> None:
        self.configured_timeout = timeout
        self.observe = observe

    def setup(self) -> None:
        self.timeout = (settings_of(self.container, CallSettings).rpc_timeout_seconds
                        if self.configured_timeout is None else self.configured_timeout)

    def get_dependency(self, worker_ctx: WorkerContext) -> ServicesProxy:
        return ServicesProxy(worker_ctx, self.client, self.timeout, self.observe)


class ServicesProxy:
    """`proxy.<service>.<method>(...)`, as in nameko shell."""

    def __init__(self, worker_ctx: WorkerContext, client: RpcClient, timeout: float,
                 observe: Observer | None = None) -> None:
        self._worker_ctx = worker_ctx
        self._client = client
        self.timeout = timeout
        self.observe = observe

    def with_timeout(self, timeout: float) -> ServicesProxy:
        """The same proxy with another deadline (a health probe wants a short one)."""
        return ServicesProxy(self._worker_ctx, self._client, timeout, self.observe)

    def __getattr__(self, service_name: str) -> ServiceProxy:
        if service_name.startswith("_"):
            raise AttributeError(service_name)
        return ServiceProxy(self, service_name)


class ServiceProxy:
    def __init__(self, cluster: ServicesProxy, service_name: str) -> None:
        self._cluster = cluster
        self._service_name = service_name

    def __getattr__(self, method_name: str) -> MethodProxy:
        if method_name.startswith("_"):
            raise AttributeError(method_name)
        return MethodProxy(self._cluster, self._service_name, method_name)


class MethodProxy(HeaderEncoder):
    """One remote method: call it for the result, or call_async for a DeadlineReply."""

    def __init__(self, cluster: ServicesProxy, service_name: str, method_name: str) -> None:
        self.cluster = cluster
        self.service_name = service_name
        self.method_name = method_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call_async(*args, **kwargs).result()

    def call_async(self, *args: Any, **kwargs: Any) -> DeadlineReply:
        started = time.monotonic()
        span = tracing.client_span(self.cluster._worker_ctx.service_name, self.service_name,
                                   self.method_name)
        try:
            reply = self._send(args, kwargs, span)
        except Exception as error:
            self.observed(started, error, span)
            raise
        reply.started = started
        reply.span = span
        return reply

    def observed(self, started: float, error: Exception | None, span: Span | None) -> None:
        if span is not None:
            if error is not None:
                tracing.failed(span, error)
            span.end()
        if self.cluster.observe is not None:
            self.cluster.observe(self.service_name, self.method_name,
                                 time.monotonic() - started, error)

    def _remaining_seconds(self) -> float:
        """This call's timeout, cut to part of what remains of the caller's deadline: the
        rest is left for answering the caller before it gives up."""
        worker_ctx = self.cluster._worker_ctx
        inherited = worker_ctx.context_data.get(DEADLINE_KEY)
        if isinstance(worker_ctx.entrypoint, Rpc) and isinstance(inherited, (int, float)):
            return min(self.cluster.timeout, (float(inherited) - time.time()) * INHERITED_SHARE)
        return self.cluster.timeout

    def _send(self, args: tuple[Any, ...], kwargs: dict[str, Any],
              span: Span | None) -> DeadlineReply:
        timeout = self._remaining_seconds()
        if timeout <= 0:
            raise ServiceTimeout(f"No time left to call the {self.service_name} service.",
                                 {"service": self.service_name, "method": self.method_name})
        deadline = time.monotonic() + timeout
        headers = self.get_message_headers(self.cluster._worker_ctx)
        headers[f"{self.header_prefix}.{DEADLINE_KEY}"] = time.time() + timeout
        if span is not None:  # the callee's span is this one's child, not its caller's
            tracing.carry(headers, self.header_prefix, span)
        correlation_id, call = self.cluster._client.call(
            self.service_name, self.method_name, args, kwargs, headers, timeout)
        return DeadlineReply(self, call, correlation_id, deadline, timeout)


class DeadlineReply:
    """The answer to a call made with call_async."""

    started = 0.0
    span: Span | None = None

    def __init__(self, proxy: MethodProxy, call: PendingCall, correlation_id: str,
                 deadline: float, timeout: float) -> None:
        self.proxy = proxy
        self.call = call
        self.correlation_id = correlation_id
        self.deadline = deadline
        self.timeout = timeout

    def forget(self) -> None:
        """Stops waiting for the reply (for calls made only for their effect)."""
        self.proxy.cluster._client.forget(self.correlation_id)
        if self.span is not None:  # its result is never asked for
            self.span.end()

    def result(self) -> Any:
        try:
            result = self._result()
        except Exception as error:
            self.proxy.observed(self.started, error, self.span)
            raise
        self.proxy.observed(self.started, None, self.span)
        return result

    def _result(self) -> Any:
        body = self.call.wait(max(self.deadline - time.monotonic(), 0))
        if body is None:
            self.proxy.cluster._client.forget(self.correlation_id)
            raise ServiceTimeout(
                f"The {self.proxy.service_name} service did not answer in time.",
                {"service": self.proxy.service_name, "method": self.proxy.method_name,
                 "timeout_seconds": round(self.timeout, 3)})
        if body.get("error"):
            raise deserialize(body["error"])
        return body["result"]

