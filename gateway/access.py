"""What every answer of the gateway carries and leaves behind, on either path (a cache hit
answered from the raw environ, or a werkzeug request): the request id, the security
headers, the route's name, its metrics and its access log line."""

from __future__ import annotations

import itertools
import logging
import os
import re

from gateway import metrics

API_PREFIX = "/api/v1"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

log = logging.getLogger("gateway.access")

# New request ids: 32 hex digits, a random half per process and a counter. Unique, not
# secret, and without uuid4's call for random bytes on every request.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def accepted_request_id(offered: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a new one."""
    if offered and SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def record(route: str, method: str, path: str, status: int, elapsed_ms: float) -> None:
    """Metrics and the access log line of one answered request."""
    metrics.observe_request(route, method, status, elapsed_ms / 1000)
    if status == 429:
        metrics.RATE_LIMITED.labels(route).inc()
    log.info("%s %s %s %.1f ms", method, path, status, elapsed_ms,
             extra={"duration_ms": round(elapsed_ms, 2), "method": method, "path": path,
                    "status": status})


def route_template(rule: str) -> str:
    """'/api/v1/users/<string:user_id>' -> '/users/{user_id}': one name per route."""
    if rule.startswith(API_PREFIX + "/"):
        rule = rule[len(API_PREFIX):]
    return CONVERTER.sub(r"{\1}", rule)
