"""The gateway's way out: it keeps serving for a while after SIGTERM, then closes.

A scheduler sends SIGTERM and takes the pod out of its load balancers at the same time;
the two race, so for SHUTDOWN_DRAIN_SECONDS the gateway still serves every request while
/health answers 503 "draining" (readiness fails) and every response says
`Connection: close` (kept-alive clients reconnect, to another gateway). Only then do its
routes stop and its socket close; a request that still arrives on an old connection is
told 503 at once instead of waiting for services that are already stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import eventlet
from eventlet.event import Event

log = logging.getLogger(__name__)

SERVING, DRAINING, CLOSED = "serving", "draining", "closed"


class Drain:
    def __init__(self, seconds: float, stop_keeping_alive: Callable[[], None]) -> None:
        self.seconds = seconds
        self.stop_keeping_alive = stop_keeping_alive
        self.state = SERVING
        self._over: Event | None = None

    def run(self) -> None:
        """Called by each route's stop: the first drains, the others wait for it."""
        if self._over is not None:
            self._over.wait()
            return
        self._over = Event()
        self.state = DRAINING
        self.stop_keeping_alive()
        if self.seconds:
            log.info("draining for %s s before the gateway stops", self.seconds)
            eventlet.sleep(self.seconds)
        self.state = CLOSED
        self._over.send(None)
