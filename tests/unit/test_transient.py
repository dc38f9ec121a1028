"""Which failures put an event back, and which are acknowledged as bugs."""

from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from sqlalchemy.exc import OperationalError

from shop import transient
from shop.errors import InvalidInput, ServiceUnavailable


@pytest.fixture
def handler(monkeypatch):
    monkeypatch.setattr(transient, "RETRY_PAUSE_SECONDS", 0)
    handler = transient.RetryingEventHandler("users", "user_created")
    handler.method_name = "on_user_created"
    handler.queue_consumer = Mock()
    return handler


@pytest.mark.parametrize("error", [
    OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    ConnectionRefusedError("broker down"),
    ServiceUnavailable("products is down"),
])
def test_a_transient_failure_puts_the_event_back(handler, error):
    message = SimpleNamespace()
    handler.handle_message_processed(message, exc_info=(type(error), error, None))
    handler.queue_consumer.requeue_message.assert_called_once_with(message)
    handler.queue_consumer.ack_message.assert_not_called()


@pytest.mark.parametrize("error", [KeyError("id"), InvalidInput("bad event")])
def test_a_bug_or_a_bad_event_is_acknowledged_not_retried_for_ever(handler, error):
    message = SimpleNamespace()
    handler.handle_message_processed(message, exc_info=(type(error), error, None))
    handler.queue_consumer.ack_message.assert_called_once_with(message)
    handler.queue_consumer.requeue_message.assert_not_called()


def test_a_handled_event_is_acknowledged(handler):
    handler.handle_message_processed(message := SimpleNamespace())
    handler.queue_consumer.ack_message.assert_called_once_with(message)
