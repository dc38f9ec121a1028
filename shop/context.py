"""The request id of the call a worker is handling, bound to every log line it writes,
and the log formats (readable text, or one JSON object a line with LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from eventlet.corolocal import local
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

if TYPE_CHECKING:
    from _typeshed import ExcInfo

REQUEST_ID_KEY = "request_id"
NO_REQUEST = "-"

_current = local()  # one per greenthread, so each worker sees its own request id
# The services this process runs (one per `nameko run`; several in tests): named on log
# lines written outside any worker. A worker's lines name its own service.
_process_services: set[str] = set()
log = logging.getLogger("shop.calls")


def current_request_id() -> str:
    return getattr(_current, "request_id", None) or NO_REQUEST


def current_service() -> str:
    return getattr(_current, "service", None) or "+".join(sorted(_process_services)) or "-"


def bind_request_id(request_id: str | None) -> None:
    """Makes request_id the current one for this greenthread (None unbinds it)."""
    _current.request_id = request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` and `service` to every record, for the formats (see config.yml)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, REQUEST_ID_KEY):
            record.request_id = current_request_id()
        if not hasattr(record, "service"):
            record.service = current_service()
        return True


# Attributes every record has; anything else was passed as `extra` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "request_id", "service"}


# Control characters (and Unicode's line breaks) as escapes: text that came from a client,
# such as a path with %0d%0a in it, can never start a line of its own.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7f, 0x85]}
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


class TextFormatter(logging.Formatter):
    """The readable format, one line per record whatever the message holds (a traceback
    still follows on lines of its own)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return super().formatMessage(record).translate(_ESCAPES)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, request_id, message, and
    any extra fields such as duration_ms."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": getattr(record, "service", None) or current_service(),
            "logger": record.name,
            "request_id": getattr(record, REQUEST_ID_KEY, current_request_id()),
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items()
                      if key not in _STANDARD and not key.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestContext(DependencyProvider):
    """Binds the caller's request id to the worker and logs each call with its duration."""

    def setup(self) -> None:
        _process_services.add(self.container.service_name)

    def stop(self) -> None:
        _process_services.discard(self.container.service_name)

    def kill(self) -> None:
        _process_services.discard(self.container.service_name)

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        bind_request_id(worker_ctx.context_data.get(REQUEST_ID_KEY))
        _current.service = worker_ctx.service_name
        _current.started = time.monotonic()

    def worker_result(self, worker_ctx: WorkerContext, result: object = None,
                      exc_info: ExcInfo | None = None) -> None:
        elapsed_ms = (time.monotonic() - getattr(_current, "started", time.monotonic())) * 1000
        outcome = "ok" if exc_info is None else f"raised {exc_info[0].__name__}"
        log.info("%s.%s %s in %.1f ms", worker_ctx.service_name,
                 worker_ctx.entrypoint.method_name, outcome, elapsed_ms,
                 extra={"duration_ms": round(elapsed_ms, 2),
                        "entrypoint": worker_ctx.entrypoint.method_name})

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        bind_request_id(None)
        _current.service = None

    def get_dependency(self, worker_ctx: WorkerContext) -> str:
        return worker_ctx.context_data.get(REQUEST_ID_KEY) or NO_REQUEST
