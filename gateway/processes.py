"""Runs GATEWAY_PROCESSES gateway processes on one port: what `make run` and compose start.

    python -m gateway.processes [--config config.yml]

Each process is a plain `nameko run gateway.service`. eventlet opens the listening socket
with SO_REUSEPORT, so the kernel spreads new connections over the processes. With more
than one, they share a PROMETHEUS_MULTIPROC_DIR, and the launcher serves the sum of their
metrics on METRICS_PORT (each process alone would serve only its own).

SIGTERM or SIGINT stops every process gracefully. One process ending stops the others
and the launcher exits with its status: the supervisor above (`make run`, a container's
restart policy) decides what happens next, as it does for every other service.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from shop.roster import GATEWAY, entry

MAX_PROCESSES = 32
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 15  # in-flight requests end by their deadline (5 s by default) first


class LaunchError(Exception):
    pass


def process_count(config: dict[str, Any]) -> int:
    raw = config.get("GATEWAY_PROCESSES", 1)
    try:
        count = int(raw)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_PROCESSES or isinstance(raw, bool):
        raise LaunchError(
            f"GATEWAY_PROCESSES must be a whole number from 1 to {MAX_PROCESSES}, not {raw!r}")
    return count


def nameko_command(config_path: str) -> list[str]:
    return [sys.executable, "-m", "nameko", "run", "--config", config_path, entry(GATEWAY)]


@contextmanager
def metrics_directory(run_dir: str) -> Iterator[str]:
    """The directory the processes keep their metrics in, empty at start.

    A configured one is emptied (prometheus-client counts every file in it); otherwise
    a fresh one under the run directory, removed at the end.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield str(folder)
        return
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix="gateway-metrics-", dir=run_dir)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def die_with_launcher() -> None:
    """In the child before exec: a launcher killed outright takes its processes along.
    SIGKILL, not SIGTERM: a process stuck in its own stop would otherwise outlive it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Launcher:
    """N processes, each in a session of its own so that only the launcher signals them:
    a terminal's Ctrl-C or a process-group kill would otherwise reach them twice."""

    def __init__(self, command: list[str], count: int, env: dict[str, str]):
        self.command = command
        self.count = count
        self.env = env
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.signalled: set[int] = set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        for _ in range(self.count):
            self.children.append(subprocess.Popen(
                self.command, env=self.env, start_new_session=True,
                preexec_fn=die_with_launcher, stdin=subprocess.DEVNULL))
        if self.stopping:  # a signal came while they were starting
            self.signal_children()
        print(f"gateway: {self.count} processes, pids "
              + " ".join(str(child.pid) for child in self.children), flush=True)
        # Until one exits, or a signal says stop: then the grace period runs from the
        # signal, even if every process hangs in its stop.
        while not self.stopping and all(child.poll() is None for child in self.children):
            time.sleep(POLL_SECONDS)
        if not self.stopping:
            ended = next(child for child in self.children if child.returncode is not None)
            print(f"gateway: process {ended.pid} exited with {ended.returncode}; "
                  "stopping the others", flush=True)
            self.signal_children()
            self.wait_or_kill()
            return ended.returncode if ended.returncode > 0 else 1
        codes = self.wait_or_kill()
        return 0 if all(code == 0 for code in codes) else 1

    def wait_or_kill(self) -> list[int]:
        """Each process's status, killing those still running after the grace period
        (nameko can hang when told to stop while it is still starting)."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            try:
                child.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                print(f"gateway: process {child.pid} did not stop in {STOP_GRACE_SECONDS}s;"
                      " killing it", flush=True)
                child.kill()
                child.wait()
        return [child.returncode for child in self.children]

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            self.stopping = True
            self.signal_children()

    def signal_children(self) -> None:
        """SIGTERM to each running process, once (a second one would start a second
        shutdown in nameko)."""
        for child in self.children:
            if child.poll() is None and child.pid not in self.signalled:
                self.signalled.add(child.pid)
                child.send_signal(signal.SIGTERM)


def main(argv: list[str]) -> int:
    from shop.config import load_config

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.environ.get("NAMEKO_CONFIG", "config.yml"))
    args = parser.parse_args(argv)
    config = load_config(args.config)
    try:
        count = process_count(config)
    except LaunchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = nameko_command(args.config)
    if count == 1 and MULTIPROC_ENV not in os.environ:
        os.execv(command[0], command)  # one process: exactly `nameko run`, nothing between
    with metrics_directory(os.environ.get("RUN_DIR", ".run")) as directory:
        serve_metrics(config, directory)
        return Launcher(command, count,
                        {**os.environ, MULTIPROC_ENV: directory, "METRICS_PORT": "0"}).run()


def serve_metrics(config: dict[str, Any], directory: str) -> None:
    """Every process's metrics, summed, on METRICS_PORT (0: not served)."""
    port = int(config.get("METRICS_PORT") or 0)
    if not port:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    start_http_server(port, str(config.get("METRICS_ADDRESS", "127.0.0.1")), registry=registry)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
