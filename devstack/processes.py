"""Starting a process and watching it: the local stack (`make run`, `make test`), the
benchmark and the system tests all start their servers and services through this.

Each process runs in a process group of its own, with its PID recorded under
`<run_dir>/pids/` and its output under `<run_dir>/logs/`, and is stopped by that PID
(its group), never by name. Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shop.roster import SERVICES

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 20
NAMEKO = str(Path(sys.executable).parent / "nameko")


class StartFailed(Exception):
    """A process ended, or did not become ready, while it was being started."""


def nameko_run(target: str, config: str = "config.yml") -> list[str]:
    """The command that runs the service class target names (`<module>:<Class>`; the
    roster's services by shop.roster.entry)."""
    return [NAMEKO, "run", "--config", config, target]


@dataclass
class ManagedProcess:
    """A child process in its own process group, recorded in a PID file."""

    name: str
    argv: list[str]
    run_dir: Path  # the PID file goes under pids/, the output under logs/
    env: dict[str, str] = field(default_factory=dict)
    prefix_output: bool = False
    stop_signal: int = signal.SIGTERM
    is_service: bool = False  # services stop together, before the servers they use
    popen: subprocess.Popen[Any] | None = None

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "pids" / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "logs" / f"{self.name}.log"

    def start(self) -> ManagedProcess:
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        if self.prefix_output:
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=env, start_new_session=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                text=True, bufsize=1,
            )
            threading.Thread(target=self._relay_output, daemon=True).start()
        else:
            with open(self.log_path, "ab") as log:
                self.popen = subprocess.Popen(
                    self.argv, cwd=ROOT, env=env, start_new_session=True,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
        self.pid_path.write_text(str(self.popen.pid))
        return self

    def _relay_output(self) -> None:
        label = f"{self.name:<13}|"
        if sys.stdout.isatty():
            colour = 31 + SERVICES.index(self.name) % 6 if self.name in SERVICES else 37
            label = f"\033[{colour}m{label}\033[0m"
        assert self.popen is not None and self.popen.stdout is not None
        with open(self.log_path, "a") as log:
            for line in self.popen.stdout:
                log.write(line)
                log.flush()
                print(f"{label} {line}", end="", flush=True)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None, "started"
        return self.popen.pid

    def log(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Asks the process (its whole group) to stop: stop_signal, SIGTERM by default."""
        if self.running():
            signal_group(self.pid, self.stop_signal)

    def send_signal(self, signum: int) -> None:
        """Signals the process alone (terminate() signals its whole group)."""
        if self.running():
            assert self.popen is not None
            self.popen.send_signal(signum)

    def kill(self) -> None:
        if self.running():
            signal_group(self.pid, signal.SIGKILL)
            self.wait()

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code; raises subprocess.TimeoutExpired after timeout."""
        assert self.popen is not None, "started"
        return self.popen.wait(timeout)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int:
        """Terminates the process and returns its exit code; if it has not ended within
        grace seconds, kills it and raises subprocess.TimeoutExpired."""
        self.terminate()
        try:
            return self.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            self.pid_path.unlink(missing_ok=True)

    def wait_stopped(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Waits for a terminated process to end, killing it after grace seconds."""
        if self.popen is None:
            return
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"==> {self.name} did not stop in {grace:.0f}s; killing it")
            self.kill()
        self.pid_path.unlink(missing_ok=True)


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def stop_leftover(name: str, run_dir: Path) -> None:
    """Stops a process that an interrupted earlier run of this stack left behind.

    Only a PID recorded in our own PID file whose command line or environment names our
    run directory, or which works in it, is touched. Redis writes its title over both its
    command line and its environment, but works in its data folder under the run
    directory.
    """
    pid_path = run_dir / "pids" / f"{name}.pid"
    if not pid_path.exists():
        return
    try:
        pid = int(pid_path.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (ValueError, OSError):
        pid_path.unlink(missing_ok=True)
        return
    if (str(run_dir) in cmdline or str(run_dir) in _process_environ(pid)
            or _works_in(pid, run_dir)):
        print(f"==> stopping {name} (pid {pid}) left over from an earlier run")
        signal_group(pid, signal.SIGTERM)
        for _ in range(STOP_GRACE_SECONDS * 4):
            if not _alive(pid):
                break
            time.sleep(0.25)
        else:
            signal_group(pid, signal.SIGKILL)
    pid_path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _works_in(pid: int, folder: Path) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(folder)
    except OSError:
        return False


def _process_environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def wait_until(check: Callable[[], bool], seconds: float, what: str,
               process: ManagedProcess | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.popen is not None and process.popen.poll() is not None:
            raise StartFailed(f"{what} exited early; see {process.log_path}")
        time.sleep(0.25)
    raise StartFailed(f"{what} was not ready after {seconds:.0f}s; see its log")
