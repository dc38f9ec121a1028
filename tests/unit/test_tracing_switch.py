"""What turns tracing on: the standard OTEL_* variables, and nothing else."""

import pytest

from shop import tracing

OTEL = ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("environment, on", [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
])
def test_tracing_is_on_only_when_the_environment_asks(monkeypatch, environment, on):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert tracing.is_on() is on
    assert (tracing.tracer_for("unit-switch") is not None) is on
    tracing.export_to(None)  # forgets the tracer made


def test_with_tracing_off_no_span_is_made_for_calls_or_events():
    assert tracing.client_span("nobody", "orders", "place_order") is None
    assert tracing.producer_span("nobody", "order_placed") is None
