"""What every answer of the gateway carries and leaves behind, on either path (a cache hit
answered from the raw environ, or a werkzeug request): the request id, the security
headers, the route's name, its metrics and its access log line."""

from __future__ import annotations

import itertools
import logging
import os
import re

from gateway import metrics
from shop import tracing

API_PREFIX = "/api/v1"
# Every route is also served under these, longest first: /api/v1 (ours), and /api for
# clients written for the systems this one replaces.
API_PREFIXES = (API_PREFIX, "/api")
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    # The rest of what an API behind helmet sends, which clients and scanners look for.
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    "X-DNS-Prefetch-Control": "off",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-XSS-Protection": "0",  # browsers' old filter opened more holes than it closed
}
# Only on an answer to a request that came over TLS: over plain HTTP it means nothing.
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

log = logging.getLogger("gateway.access")

# New request ids: 32 hex digits, a random half per process and a counter. Unique, not
# secret, and without uuid4's call for random bytes on every request.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def accepted_request_id(offered: str | None, correlation: str | None = None) -> str:
    """The client's X-Request-ID (else its X-Correlation-ID, as clients of other
    gateways send) when it is a sane token, else a new one."""
    for candidate in (offered, correlation):
        if candidate:
            return candidate if SANE_REQUEST_ID.fullmatch(candidate) else new_request_id()
    return new_request_id()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def request_id_headers(request_id: str, correlation_offered: bool) -> list[tuple[str, str]]:
    """X-Request-ID always; X-Correlation-ID too for a client that sent one."""
    headers = [("X-Request-ID", request_id)]
    if correlation_offered:
        headers.append(("X-Correlation-ID", request_id))
    return headers


# Where the gateway notes, in a request's environ, the user its token named (the rate
# limiter or the route's auth verified it): the access log line reads it back.
USER_KEY = "shop.user_id"


def record(route: str, method: str, path: str, status: int, elapsed_ms: float,
           client: str = "-", user: str | None = None) -> None:
    """Metrics and the access log line of one answered request: client is the caller's
    address (as TRUSTED_PROXIES lets it be read), user the id its token named, if any."""
    metrics.observe_request(route, method, status, elapsed_ms / 1000)
    tracing.http_answered(route, method, status, client, user)
    if status == 429:
        metrics.RATE_LIMITED.labels(route).inc()
    log.info("%s %s %s %.1f ms client=%s user=%s", method, path, status, elapsed_ms, client,
             user or "-", extra={"duration_ms": round(elapsed_ms, 2), "method": method,
                                 "path": path, "status": status, "client": client,
                                 "user_id": user})


def route_template(rule: str) -> str:
    """'/api/v1/users/<string:user_id>' -> '/users/{user_id}': one name per route."""
    return CONVERTER.sub(r"{\1}", rule[len(prefix_of(rule)):])


def with_prefixes(paths: tuple[str, ...]) -> frozenset[str]:
    """The paths as served: bare and under every API prefix."""
    return frozenset(path for bare in paths
                     for path in (bare, *(prefix + bare for prefix in API_PREFIXES)))


def prefix_of(path: str) -> str:
    """The API prefix a path came under ("" for none)."""
    return next((prefix for prefix in API_PREFIXES if path.startswith(prefix + "/")), "")
