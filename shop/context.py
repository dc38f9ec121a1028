"""The request id of the call a worker is handling, bound to every log line it writes."""

from __future__ import annotations

import logging
import time

from eventlet.corolocal import local
from nameko.extensions import DependencyProvider

REQUEST_ID_KEY = "request_id"
NO_REQUEST = "-"

_current = local()  # one per greenthread, so each worker sees its own request id
log = logging.getLogger("shop.calls")


def current_request_id() -> str:
    return getattr(_current, "request_id", None) or NO_REQUEST


def bind_request_id(request_id: str | None) -> None:
    """Makes request_id the current one for this greenthread (None unbinds it)."""
    _current.request_id = request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record, for formats that show it (see config.yml)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, REQUEST_ID_KEY):
            record.request_id = current_request_id()
        return True


class RequestContext(DependencyProvider):
    """Binds the caller's request id to the worker and logs each call with its duration."""

    def worker_setup(self, worker_ctx) -> None:
        bind_request_id(worker_ctx.context_data.get(REQUEST_ID_KEY))
        _current.started = time.monotonic()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        elapsed_ms = (time.monotonic() - getattr(_current, "started", time.monotonic())) * 1000
        outcome = "ok" if exc_info is None else f"raised {exc_info[0].__name__}"
        log.info("%s.%s %s in %.1f ms", worker_ctx.service_name,
                 worker_ctx.entrypoint.method_name, outcome, elapsed_ms)

    def worker_teardown(self, worker_ctx) -> None:
        bind_request_id(None)

    def get_dependency(self, worker_ctx) -> str:
        return worker_ctx.context_data.get(REQUEST_ID_KEY) or NO_REQUEST
