"""The base class of every nameko-shop service."""

from shop.context import RequestContext
from shop.liveness import Liveness
from shop.metrics import WorkerMetrics
from shop.tracing import Tracing


class ShopService:
    """Binds each call's request id to its worker and logs the call with its duration,
    runs it in a trace span when tracing is on (shop/tracing.py), times it for its metrics
    (shop/metrics.py), and writes the
    process's heartbeat for the probes (shop/liveness.py).

    nameko collects dependency providers from base classes too, so every service has it
    without declaring it. It has no entrypoint: `nameko run` never takes it for a service.
    """

    request_context = RequestContext()
    tracing = Tracing()
    worker_metrics = WorkerMetrics()
    liveness = Liveness()
