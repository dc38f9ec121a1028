"""`make run` and `make test`: the local stack (RabbitMQ, Redis, PostgreSQL, the
services) on loopback, then the services or the tests, and everything stopped again.

Standard library only. The servers and processes are devstack's: every process is
recorded by PID under the run directory and stopped by that PID (its process group);
a server of the expected kind already listening on a port is reused and left alone.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python scripts/stack.py`: devstack/ is beside it
    sys.path.insert(0, str(ROOT))

from devstack.processes import ManagedProcess, StartFailed, nameko_run  # noqa: E402
from devstack.servers import (  # noqa: E402
    TEST_DATABASE,
    Settings,
    Stack,
    StackError,
    port_is_open,
)
from shop.roster import BACKENDS, SERVICES, entry  # noqa: E402

# `make run` serves each process's metrics on a port of its own: the gateway's on this
# one, the backends' from the next up in roster order (users 9101 ... notifications 9105):
# deploy/observability/prometheus.yml.
METRICS_BASE_PORT = int(os.environ.get("METRICS_BASE_PORT", "9100"))


def metrics_port(name: str) -> str:
    """The METRICS_PORT `make run` gives a service."""
    return str(METRICS_BASE_PORT + 1 + BACKENDS.index(name)) if name in BACKENDS \
        else str(METRICS_BASE_PORT)


def ensure_jwt_secret(settings: Settings) -> None:
    """Generates the signing secret once, unless one is configured."""
    if os.environ.get("JWT_SECRET"):
        return
    path = settings.run_dir / "jwt_secret"
    if path.exists():
        return
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    print(f"==> generated a JWT secret in {path}")


# --- commands ----------------------------------------------------------------------


def available_services() -> list[str]:
    return [name for name in SERVICES if (ROOT / name / "service.py").exists()]


def service_command(name: str) -> list[str]:
    if name == "gateway":  # GATEWAY_PROCESSES of them on the one port
        return [sys.executable, "-m", "gateway.processes", "--config", "config.yml"]
    return nameko_run(entry(name))


def command_run(stack: Stack) -> int:
    settings = stack.settings
    if port_is_open(settings.gateway_port):
        raise StackError(
            f"Port {settings.gateway_port} is taken; stop what listens there or set GATEWAY_PORT.")
    stack.ensure_rabbitmq(need_management=False)
    stack.ensure_redis()
    ensure_jwt_secret(settings)
    env = stack.service_env()
    print("==> applying migrations")
    subprocess.run([sys.executable, "-m", "shop.migrate"], cwd=ROOT, env={**os.environ, **env},
                   check=True)
    services = [
        stack.start_process(ManagedProcess(
            name, service_command(name), settings.run_dir,
            env={**env, "METRICS_PORT": metrics_port(name)}, prefix_output=True,
            is_service=True))
        for name in available_services()
    ]
    print(f"==> {len(services)} services started; gateway on http://{env['WEB_SERVER_ADDRESS']}"
          " (Ctrl-C stops everything)")
    while all(service.running() for service in services):
        time.sleep(0.5)
    stopped = [service.name for service in services if not service.running()]
    print(f"==> {', '.join(stopped)} exited; stopping the rest")
    return 1


def command_test(stack: Stack, pytest_args: list[str]) -> int:
    stack.ensure_rabbitmq(need_management=True)
    stack.ensure_redis()
    stack.ensure_postgres([TEST_DATABASE])
    settings = stack.settings
    env = {**os.environ, **stack.service_env(),
           "TEST_DATABASE_URL": settings.postgres_uri(TEST_DATABASE)}
    argv = [
        sys.executable, "-m", "pytest",
        f"--amqp-uri={settings.amqp_uri}",
        f"--rabbit-api-uri={settings.management_uri}",
        *pytest_args,
    ]
    print("==> " + " ".join(argv[1:]))
    code = subprocess.call(argv, cwd=ROOT, env=env)
    if code == 5:
        print("==> pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return code


def interrupt(signum: int, frame: FrameType | None) -> None:
    """Ends the stack on SIGTERM the way Ctrl-C does, so the cleanup always runs."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=("run", "test"))
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    stack = Stack(Settings.from_env(dict(os.environ)))
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)  # even when started with SIGINT ignored
    try:
        if args.command == "run":
            return command_run(stack)
        return command_test(stack, args.pytest_args)
    except StartFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> interrupted")
        return 130
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
