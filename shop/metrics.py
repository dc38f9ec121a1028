"""Every service's own Prometheus metrics: its workers' durations and failures.

Every process serves them (the gateway with its own) on METRICS_PORT (0, the default:
not served), at /metrics of METRICS_ADDRESS's interface, never on the gateway's public
port; `make run` gives each process a port of its own, and
deploy/observability/prometheus.yml scrapes them all.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from nameko.containers import WorkerContext
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from prometheus_client import Counter, Histogram, start_http_server

from shop.settings import Settings, at_least, settings_of

if TYPE_CHECKING:
    from _typeshed import ExcInfo

log = logging.getLogger(__name__)

WORKER_SECONDS = Histogram("shop_worker_duration_seconds",
                           "Time a service's worker took: an RPC answered, an event handled.",
                           ["service", "entrypoint", "kind"])
WORKER_FAILURES = Counter(
    "shop_worker_failures", "Workers that raised an error their entrypoint does not expect "
    "(a bug or an outage, not a refused request).", ["service", "entrypoint", "error"])
NOTIFICATION_DELIVERIES = Counter(
    "shop_notification_deliveries", "Notifications handed to the sender, by outcome.",
    ["result"])

# One server per address, shared by the services of a process; stopped with the last.
_servers: dict[tuple[str, int], tuple[WSGIServer | None, set[object]]] = {}
# Label children by their labels, made once: labels() takes a lock each time.
_timers: dict[tuple[str, str, str], Histogram] = {}


@dataclasses.dataclass(frozen=True)
class MetricsSettings(Settings):
    metrics_address: str
    metrics_port: int = dataclasses.field(metadata=at_least(0, 65535))


def kind_of(worker_ctx: WorkerContext) -> str:
    entrypoint = worker_ctx.entrypoint
    if isinstance(entrypoint, Rpc):
        return "rpc"
    if isinstance(entrypoint, EventHandler):
        return "event"
    if isinstance(entrypoint, Timer):
        return "timer"
    return "http"


class WorkerMetrics(DependencyProvider):
    """Times every worker, counts unexpected failures, and serves /metrics on METRICS_PORT."""

    address: tuple[str, int] | None = None  # where it serves; None until set up

    def setup(self) -> None:
        self.started: dict[WorkerContext, float] = {}
        settings = settings_of(self.container, MetricsSettings)
        self.address = (settings.metrics_address, settings.metrics_port)
        if not settings.metrics_port:
            return
        served = _servers.get(self.address)
        if served is not None:
            served[1].add(self)
            return
        users: set[object] = {self}
        # Starting the server's thread yields to the other services' setup: claimed first.
        _servers[self.address] = (None, users)
        try:
            server, _ = start_http_server(settings.metrics_port, settings.metrics_address)
        except BaseException:
            del _servers[self.address]
            raise
        _servers[self.address] = (server, users)
        log.info("metrics at http://%s:%d/metrics", *self.address)

    def stop(self) -> None:
        address = self.address
        served = _servers.get(address) if address else None
        if address is None or served is None:
            return
        server, users = served
        users.discard(self)
        if not users:
            del _servers[address]
            if server is not None:
                server.shutdown()
                server.server_close()

    def kill(self) -> None:
        self.stop()

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        self.started[worker_ctx] = time.monotonic()

    def worker_result(self, worker_ctx: WorkerContext, result: object = None,
                      exc_info: ExcInfo | None = None) -> None:
        started = self.started.pop(worker_ctx, None)
        service, entrypoint = worker_ctx.service_name, worker_ctx.entrypoint.method_name
        if started is not None:
            key = (service, entrypoint, kind_of(worker_ctx))
            timer = _timers.get(key) or _timers.setdefault(key, WORKER_SECONDS.labels(*key))
            timer.observe(time.monotonic() - started)
        if exc_info is not None and not isinstance(
                exc_info[1], worker_ctx.entrypoint.expected_exceptions or ()):
            WORKER_FAILURES.labels(service, entrypoint, exc_info[0].__name__).inc()

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        self.started.pop(worker_ctx, None)
