"""Distributed tracing with OpenTelemetry: one trace per request, across every hop.

Off by default. OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns
it on, exporting over OTLP/HTTP; OTEL_TRACES_EXPORTER=console prints the spans instead,
and OTEL_SDK_DISABLED=true turns it off whatever else is set. The SDK reads the other
standard variables itself: OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_RESOURCE_ATTRIBUTES.

The W3C trace context travels in nameko's context data (`traceparent`, `tracestate`),
which nameko sends as `nameko.traceparent` headers with every call and event:
- the gateway opens a server span per HTTP request (shop.tracing is told of it by
  gateway.http) and hands its context to the route's worker;
- every worker runs in a span of its own (Tracing, on every ShopService): a server span
  for an RPC, a consumer span for an event, an internal one for a route or a timer;
- every RPC a worker makes is a client span (shop.rpc), and every event it writes to its
  outbox a producer span (shop.outbox), whose context the message carries on.

nameko 2.14 has no instrumentation package (opentelemetry-instrumentation-nameko needs
nameko 3), and the shop's RPC client and outbox are its own, so the spans are made here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from nameko.containers import WorkerContext
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from shop.context import REQUEST_ID_KEY, current_request_id

if TYPE_CHECKING:
    from _typeshed import ExcInfo

log = logging.getLogger(__name__)

REQUEST_ID_ATTRIBUTE = "shop.request_id"
FLUSH_MILLIS = 5000

_tracers: dict[str, Tracer] = {}
_providers: list[TracerProvider] = []
_exporter: SpanExporter | None = None  # the tests' exporter, spans exported one by one


def is_on() -> bool:
    """Whether the environment asks for traces (read when a service starts)."""
    if _exporter is not None:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return exporter in ("otlp", "console") or any(
        os.environ.get(name) for name in ("OTEL_EXPORTER_OTLP_ENDPOINT",
                                          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def export_to(exporter: SpanExporter | None) -> None:
    """Sends the spans of services started from now on to exporter, each as it ends
    (None: back to what the environment says). For tests: the SDK's in-memory exporter."""
    global _exporter
    _exporter = exporter
    _tracers.clear()


def tracer_for(service_name: str) -> Tracer | None:
    """The tracer of a service (its spans name it as service.name); None when off."""
    if not is_on():
        return None
    tracer = _tracers.get(service_name)
    if tracer is None:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
        provider.add_span_processor(_processor())
        _providers.append(provider)
        tracer = _tracers[service_name] = provider.get_tracer("nameko-shop")
    return tracer


def _processor() -> SpanProcessor:
    if _exporter is not None:
        return SimpleSpanProcessor(_exporter)
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        return BatchSpanProcessor(ConsoleSpanExporter())
    # Imported only when used: the exporter pulls in protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return BatchSpanProcessor(OTLPSpanExporter())  # it reads OTEL_EXPORTER_OTLP_* itself


def flush() -> None:
    """Exports what has ended and not yet gone out (a stopping service's last spans)."""
    for provider in _providers:
        provider.force_flush(FLUSH_MILLIS)


def carry(headers: MutableMapping[str, Any], prefix: str, span: Span) -> None:
    """Writes span's context into a message's headers, as nameko writes context data
    (prefix "": into context data itself)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    for key, value in carrier.items():
        headers[f"{prefix}.{key}" if prefix else key] = value


def parent_of(carrier: Mapping[str, Any]) -> context.Context:
    """The trace context a caller sent (context data, or an HTTP request's headers)."""
    return propagate.extract({key: value for key, value in carrier.items()
                              if isinstance(value, str)})


def failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200]))


def client_span(caller: str, service_name: str, method_name: str) -> Span | None:
    """A span for an RPC the current worker makes; None when tracing is off."""
    tracer = _tracers.get(caller)
    if tracer is None:
        return None
    return tracer.start_span(f"{service_name}.{method_name}", kind=SpanKind.CLIENT,
                             attributes={"rpc.system": "nameko", "rpc.service": service_name,
                                         "rpc.method": method_name})


def producer_span(caller: str, event_type: str) -> Span | None:
    """A span for an event the current worker writes to its outbox; None when off."""
    tracer = _tracers.get(caller)
    if tracer is None:
        return None
    return tracer.start_span(f"{event_type} publish", kind=SpanKind.PRODUCER, attributes={
        "messaging.system": "rabbitmq", "messaging.operation.type": "publish",
        "messaging.destination.name": f"{caller}.events", "shop.event_type": event_type})


class Tracing(DependencyProvider):
    """Runs every worker in a span: its caller's child when the call carried a context."""

    def setup(self) -> None:
        self.tracer = tracer_for(self.container.service_name)
        self.open: dict[WorkerContext, tuple[Span, object]] = {}

    def stop(self) -> None:
        if self.tracer is not None:
            flush()

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        if self.tracer is None:
            return
        data = worker_ctx.context_data
        kind, attributes = _described(worker_ctx)
        if data.get(REQUEST_ID_KEY):
            attributes[REQUEST_ID_ATTRIBUTE] = data[REQUEST_ID_KEY]
        span = self.tracer.start_span(
            f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}",
            context=parent_of(data), kind=kind, attributes=attributes)
        self.open[worker_ctx] = (span, context.attach(trace.set_span_in_context(span)))

    def worker_result(self, worker_ctx: WorkerContext, result: object = None,
                      exc_info: ExcInfo | None = None) -> None:
        opened = self.open.get(worker_ctx)
        if opened is not None and exc_info is not None:
            failed(opened[0], exc_info[1])

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        opened = self.open.pop(worker_ctx, None)
        if opened is not None:
            span, token = opened
            span.end()
            context.detach(token)  # type: ignore[arg-type]  # attach's own token


def _described(worker_ctx: WorkerContext) -> tuple[SpanKind, dict[str, Any]]:
    """The span kind and attributes of a worker, by what called it."""
    entrypoint = worker_ctx.entrypoint
    if isinstance(entrypoint, Rpc):
        return SpanKind.SERVER, {"rpc.system": "nameko",
                                 "rpc.service": worker_ctx.service_name,
                                 "rpc.method": entrypoint.method_name}
    if isinstance(entrypoint, EventHandler):
        return SpanKind.CONSUMER, {
            "messaging.system": "rabbitmq", "messaging.operation.type": "process",
            "messaging.destination.name": f"{entrypoint.source_service}.events",
            "shop.event_type": entrypoint.event_type}
    if isinstance(entrypoint, HttpRequestHandler):
        return SpanKind.INTERNAL, {"http.route": entrypoint.url}
    return SpanKind.INTERNAL, {}


def http_span(tracer: Tracer, environ: Mapping[str, Any]) -> tuple[Span, object]:
    """Opens and makes current the server span of an HTTP request (its name and status
    come with the answer: http_answered). A client's own W3C trace context is followed."""
    sent = {name: environ[key] for name, key in (("traceparent", "HTTP_TRACEPARENT"),
                                                 ("tracestate", "HTTP_TRACESTATE"))
            if key in environ}
    span = tracer.start_span(environ["REQUEST_METHOD"], context=parent_of(sent),
                             kind=SpanKind.SERVER, attributes={
                                 "http.request.method": environ["REQUEST_METHOD"],
                                 "url.path": environ.get("PATH_INFO", "")})
    return span, context.attach(trace.set_span_in_context(span))


def http_done(span: Span, token: object) -> None:
    context.detach(token)  # type: ignore[arg-type]  # attach's own token
    span.end()


def http_answered(route: str, method: str, status: int, client: str,
                  user: str | None) -> None:
    """Names the current HTTP request's span after its route and records the answer."""
    if not _tracers:
        return
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.update_name(f"{method} {route}")
    span.set_attributes({"http.route": route, "http.response.status_code": status,
                         "client.address": client, REQUEST_ID_ATTRIBUTE: current_request_id()})
    if user:
        span.set_attribute("enduser.id", user)
    if status >= 500:  # a 4xx is the client's error, not the server's (OpenTelemetry's rule)
        span.set_status(Status(StatusCode.ERROR, str(status)))
