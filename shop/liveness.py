"""Each process says it is alive by rewriting a small file, for a probe to read.

A scheduler's liveness probe must not ask the broker (when the broker is down every pod
would fail at once and be restarted for nothing) and must not leave anything behind on
it. So every service process rewrites `<LIVENESS_DIR>/<service>.<pid>.json` every
LIVENESS_SECONDS from a thread of its own container: a fresh file proves the event loop
turns. The file also says whether every queue consumer of the process is consuming, which
is its readiness. `python -m shop.healthcheck` reads it (and imports nothing of this).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import eventlet
from eventlet.greenthread import GreenThread
from nameko.extensions import DependencyProvider

from shop.settings import Settings, at_least, settings_of
from shop.transient import SturdyQueueConsumer

# A heartbeat is stale, and the process not alive, after this many missed rewrites.
MISSED_BEATS = 3


@dataclasses.dataclass(frozen=True)
class LivenessSettings(Settings):
    liveness_dir: str
    liveness_seconds: float = dataclasses.field(metadata=at_least(0.1))


def heartbeat_path(directory: str | Path, service: str, pid: int) -> Path:
    return Path(directory) / f"{service}.{pid}.json"


class Liveness(DependencyProvider):
    """Writes the process's heartbeat file from start to stop (workers see nothing)."""

    _beating: GreenThread | None = None

    def setup(self) -> None:
        settings = settings_of(self.container, LivenessSettings)
        self.interval = settings.liveness_seconds
        self.path = heartbeat_path(settings.liveness_dir, self.container.service_name,
                                   os.getpid())
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.beat()
        self._beating = self.container.spawn_managed_thread(self._keep_beating)

    def stop(self) -> None:
        if self._beating is not None:
            self._beating.kill()
        if hasattr(self, "path"):  # set up
            self.path.unlink(missing_ok=True)  # a stopped process is not alive, nor stale

    def kill(self) -> None:
        self.stop()

    def _keep_beating(self) -> None:
        while True:
            eventlet.sleep(self.interval)
            self.beat()

    def beat(self) -> None:
        now = time.time()
        heartbeat = {"service": self.container.service_name, "pid": os.getpid(), "at": now,
                     "stale_after": now + MISSED_BEATS * self.interval,
                     "consuming": self.consuming()}
        fresh = self.path.with_suffix(".tmp")
        fresh.write_text(json.dumps(heartbeat))
        os.replace(fresh, self.path)  # a reader never sees half a file

    def consuming(self) -> bool:
        """Whether every queue consumer of the container is connected and consuming."""
        return all(extension.consuming for extension in self.container.subextensions
                   if isinstance(extension, SturdyQueueConsumer))
