"""The gateway's Prometheus metrics, served on METRICS_PORT like every service's (never
on the public port: what an attacker could learn there, and what a scrape costs, are the
operator's business).

Under `python -m gateway.processes` with several processes, PROMETHEUS_MULTIPROC_DIR is
set before this module loads: prometheus-client then keeps every value in a file per
process, and the launcher serves all of them on METRICS_PORT.
"""

from __future__ import annotations

from typing import Any

from nameko.exceptions import RemoteError
from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

from shop.errors import ShopError

REQUESTS = Counter("shop_http_requests", "HTTP requests answered.",
                   ["route", "method", "status"])
REQUEST_SECONDS = Histogram("shop_http_request_duration_seconds",
                            "Time to answer an HTTP request.", ["route", "method"])
RPC_SECONDS = Histogram("shop_rpc_duration_seconds", "Time to get an RPC's reply.",
                        ["service", "method"])
RPC_ERRORS = Counter("shop_rpc_errors", "RPCs that ended in an error.",
                     ["service", "method", "error"])
CACHE_LOOKUPS = Counter("shop_cache_lookups", "Response cache lookups.", ["kind", "result"])
RATE_LIMITED = Counter("shop_rate_limited_requests", "Requests refused with 429.", ["route"])
# Read from the broker on a timer (gateway/watch.py), not per scrape; the same in every
# gateway process, so the processes' largest is the value.
DEAD_LETTERS = Gauge("shop_dead_letters", "Events in each service's dead-letter queue "
                     "(python -m shop.deadletters lists and replays them).", ["service"],
                     multiprocess_mode="max")


# Label children by their labels, made once: a route answers thousands of times a second.
_request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    children = _request_children.get((route, method, status))
    if children is None:
        children = _request_children.setdefault((route, method, status), (
            REQUESTS.labels(route, method, str(status)), REQUEST_SECONDS.labels(route, method)))
    children[0].inc()
    children[1].observe(seconds)


def observe_rpc(service: str, method: str, seconds: float, error: Exception | None) -> None:
    RPC_SECONDS.labels(service, method).observe(seconds)
    if error is not None:
        if isinstance(error, ShopError):
            kind = error.code
        elif isinstance(error, RemoteError):
            kind = error.exc_type
        else:
            kind = type(error).__name__
        RPC_ERRORS.labels(service, method, kind).inc()


_cache_children: dict[tuple[Any, ...], Counter] = {}


def observe_cache(kind: str, result: str) -> None:
    child = _cache_children.get((kind, result))
    if child is None:
        child = _cache_children.setdefault((kind, result), CACHE_LOOKUPS.labels(kind, result))
    child.inc()

