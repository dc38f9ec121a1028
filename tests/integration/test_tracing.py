"""Tracing: one trace per HTTP request, across the gateway, the services it calls, the
events they emit and the handlers of those events, on the real broker (shop/tracing.py),
exported to the SDK's in-memory exporter."""

import time
import uuid

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shop import tracing
from tests.integration.test_shop import order_body


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.export_to(exporter)  # before the services start: they read it in setup
    yield exporter
    tracing.export_to(None)


@pytest.fixture
def traced_shop(spans, shop):
    return spans, *shop


def trace_of(spans, trace_id, until=lambda found: True, seconds=5.0):
    """The finished spans of one trace, by (service, name); waits for until(found)."""
    deadline = time.monotonic() + seconds
    while True:
        found = {(span.resource.attributes["service.name"], span.name): span
                 for span in spans.get_finished_spans() if span.context.trace_id == trace_id}
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def http_trace_id(spans, request_id):
    (span,) = [span for span in spans.get_finished_spans()
               if span.kind is SpanKind.SERVER
               and span.attributes.get("shop.request_id") == request_id
               and "http.route" in span.attributes]
    return span.context.trace_id


def parent(found, key):
    span = found[key]
    return next(name for name, other in found.items()
                if span.parent is not None and other.context.span_id == span.parent.span_id)


def order(api, product, quantity):
    """POST /orders by a new shopper under a fresh request id: (response, request id)."""
    _, auth = api.user_with_token("ada")
    request_id = f"trace-{uuid.uuid4().hex[:8]}"
    return api.http.post("/orders", json=order_body((product, quantity)),
                         headers={**auth, "X-Request-ID": request_id}), request_id


def test_an_order_is_one_trace_from_the_gateway_to_the_notification(traced_shop):
    spans, api, _, products = traced_shop
    placed, request_id = order(api, products["Desk lamp"], 2)
    assert placed.status_code == 201, placed.text

    notified = ("notifications", "notifications.on_order_placed")
    found = trace_of(spans, http_trace_id(spans, request_id), lambda found: notified in found)
    http = ("gateway", "POST /orders")
    assert found[http].kind is SpanKind.SERVER and found[http].parent is None
    assert found[http].attributes["http.response.status_code"] == 201
    # Each hop is the child of the one that caused it.
    assert parent(found, ("gateway", "gateway.place_order")) == http
    assert parent(found, ("gateway", "orders.place_order")) == ("gateway", "gateway.place_order")
    assert parent(found, ("orders", "orders.place_order")) == ("gateway", "orders.place_order")
    assert parent(found, ("orders", "products.take_stock")) == ("orders", "orders.place_order")
    assert parent(found, ("products", "products.take_stock")) == ("orders",
                                                                  "products.take_stock")
    assert parent(found, ("orders", "order_placed publish")) == ("orders", "orders.place_order")
    assert parent(found, notified) == ("orders", "order_placed publish")
    assert found[("orders", "orders.place_order")].kind is SpanKind.SERVER
    assert found[notified].kind is SpanKind.CONSUMER
    # Every span of the trace carries the request id it served.
    assert found[notified].attributes["shop.request_id"] == request_id
    assert found[("products", "products.take_stock")].attributes["shop.request_id"] == request_id
    assert all(span.status.status_code is not StatusCode.ERROR for span in found.values())


def test_a_refused_order_records_the_error_where_it_was_raised(traced_shop):
    spans, api, _, products = traced_shop
    refused, request_id = order(api, products["Mug"], 99)
    assert refused.status_code == 409 and refused.json()["code"] == "INSUFFICIENT_STOCK"

    found = trace_of(spans, http_trace_id(spans, request_id))
    for key in (("products", "products.take_stock"), ("orders", "products.take_stock"),
                ("orders", "orders.place_order"), ("gateway", "orders.place_order")):
        span = found[key]
        assert span.status.status_code is StatusCode.ERROR, key
        (event,) = [event for event in span.events if event.name == "exception"]
        assert event.attributes["exception.type"].endswith("InsufficientStock"), key
    # A 4xx is the client's error: the HTTP span says 409 and is not marked failed.
    http = found[("gateway", "POST /orders")]
    assert http.attributes["http.response.status_code"] == 409
    assert http.status.status_code is StatusCode.UNSET
    assert not any(key[1] == "order_placed publish" for key in found)


def test_a_cache_hit_is_a_span_of_its_own_and_follows_the_clients_trace(traced_shop):
    spans, api, _, products = traced_shop
    path = f"/products/{products['Mug']['id']}"
    api.http.get(path)
    trace_id = uuid.uuid4().int & ((1 << 128) - 1)
    traceparent = f"00-{trace_id:032x}-{'ab' * 8}-01"
    hit = api.http.get(path, headers={"traceparent": traceparent})
    assert hit.headers["X-Cache"] == "HIT"
    found = trace_of(spans, trace_id)
    (http,) = found.values()
    assert http.name == "GET /products/{product_id}" and http.parent.span_id == 0xabababababababab
