"""Log lines: readable text by default, one JSON object per line with LOG_FORMAT=json."""

import io
import json
import logging
import logging.config

import pytest
from nameko.testing.services import dummy, entrypoint_hook

from shop.base import ShopService
from shop.config import load_config
from shop.context import bind_request_id


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


def test_a_client_cannot_write_a_line_of_its_own_into_the_text_log(configured):
    stream = configured("text")
    forged = "/posts/x\r\n2026-12-05 10:00:00,000 INFO    gateway.access [-] GET /admin 200"
    logging.getLogger("gateway.access").info("GET %s 404", forged + "\u2028\x1b[31m")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "/posts/x\\x0d\\x0a2026-12-05" in lines[0] and "\\u2028\\x1b[31m" in lines[0]


def test_text_is_the_default_and_shows_the_request_id(configured):
    stream = configured("text")
    bind_request_id("req-78")
    logging.getLogger("shop.calls").info("hello")
    bind_request_id(None)
    assert "[req-78] hello" in stream.getvalue()


class Alpha(ShopService):
    name = "alpha"

    @dummy
    def work(self):
        logging.getLogger("alpha.work").info("working")


class Beta(ShopService):
    name = "beta"

    @dummy
    def work(self):
        logging.getLogger("beta.work").info("working")


def test_each_workers_lines_name_its_own_service_in_a_process_of_several(
        configured, container_factory, tmp_path):
    stream = configured("json")
    # What ShopService's own dependencies read: heartbeats, and no metrics port.
    base = {"LIVENESS_DIR": str(tmp_path), "LIVENESS_SECONDS": 5,
            "METRICS_ADDRESS": "127.0.0.1", "METRICS_PORT": 0}
    containers = {service: container_factory(service, base) for service in (Alpha, Beta)}
    for container in containers.values():
        container.start()
    for service in (Alpha, Beta, Alpha):
        with entrypoint_hook(containers[service], "work") as work:
            work()
    services = [json.loads(line)["service"] for line in stream.getvalue().splitlines()
                if json.loads(line)["message"] == "working"]
    assert services == ["alpha", "beta", "alpha"]
    logging.getLogger("outside").info("between calls")  # every service of the process
    outside = json.loads(stream.getvalue().splitlines()[-1])["service"]
    assert {"alpha", "beta"} <= set(outside.split("+"))
