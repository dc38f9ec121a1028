"""Log lines: readable text by default, one JSON object per line with LOG_FORMAT=json."""

import io
import json
import logging
import logging.config

import pytest

from shop.context import bind_request_id
from shop.migrate import load_config


@pytest.fixture
def configured(monkeypatch):
    """Logging set up from config.yml as `nameko run` does; returns what it writes."""
    def configure(log_format: str) -> io.StringIO:
        monkeypatch.setenv("LOG_FORMAT", log_format)
        settings = load_config("config.yml")["LOGGING"]
        logging.config.dictConfig(settings)
        stream = io.StringIO()
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        return stream
    yield configure
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def test_json_lines_carry_request_id_level_and_duration(configured):
    stream = configured("json")
    bind_request_id("req-77")
    logging.getLogger("shop.calls").info("users.get_user ok in %.1f ms", 2.5,
                                         extra={"duration_ms": 2.5})
    bind_request_id(None)
    entry = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert entry["request_id"] == "req-77" and entry["level"] == "INFO"
    assert entry["duration_ms"] == 2.5 and entry["message"] == "users.get_user ok in 2.5 ms"
    assert {"time", "service", "logger"} <= set(entry)


def test_text_is_the_default_and_shows_the_request_id(configured):
    stream = configured("text")
    bind_request_id("req-78")
    logging.getLogger("shop.calls").info("hello")
    bind_request_id(None)
    assert "[req-78] hello" in stream.getvalue()
