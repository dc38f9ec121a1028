"""Starts the local stack (RabbitMQ, Redis, the services) on loopback and stops it again.

Used by `make run` and `make test`. Standard library only. Every process it starts is
recorded by PID under the run directory and stopped by that PID (its process group);
a server of the expected kind already listening on a port is reused and left alone.
"""

from __future__ import annotations

import argparse
import base64
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python scripts/stack.py`: the roster is in shop/
    sys.path.insert(0, str(ROOT))

from shop.roster import SERVICES, entry  # noqa: E402  (standard library only, like this script)

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
STOP_GRACE_SECONDS = 20
TEST_DATABASE = "nameko_shop_test"


class StackError(Exception):
    """A problem the user must fix; printed without a traceback."""


@dataclass(frozen=True)
class Settings:
    run_dir: Path
    amqp_port: int
    management_port: int
    epmd_port: int
    dist_port: int
    redis_port: int
    postgres_port: int
    gateway_port: int

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        amqp_port = int(env.get("AMQP_PORT", "5672"))
        return cls(
            run_dir=(ROOT / env.get("RUN_DIR", ".run")).resolve(),
            amqp_port=amqp_port,
            management_port=int(env.get("RABBIT_MANAGEMENT_PORT", "15672")),
            epmd_port=int(env.get("EPMD_PORT", "4369")),
            dist_port=int(env.get("RABBIT_DIST_PORT", str(amqp_port + 20000))),
            redis_port=int(env.get("REDIS_PORT", "6379")),
            postgres_port=int(env.get("POSTGRES_PORT", "5432")),
            gateway_port=int(env.get("GATEWAY_PORT", "8000")),
        )

    @property
    def amqp_uri(self) -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_uri(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    @property
    def redis_uri(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def postgres_uri(self, database: str) -> str:
        user = os.environ.get("POSTGRES_USER", "postgres")
        password = os.environ.get("POSTGRES_PASSWORD", "")
        credentials = f"{user}:{password}" if password else user
        return f"postgresql+psycopg2://{credentials}@127.0.0.1:{self.postgres_port}/{database}"


# --- probing what listens on a port ------------------------------------------------


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def exchange(port: int, payload: bytes) -> bytes:
    """Sends payload to a loopback port and returns the first bytes of the answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(payload)
            return sock.recv(2048)
    except OSError:
        return b""


def is_rabbitmq(port: int) -> bool:
    # An AMQP 0-9-1 broker answers the protocol header with connection.start, whose
    # server properties name the product.
    return b"RabbitMQ" in exchange(port, b"AMQP\x00\x00\x09\x01")


def is_redis(port: int) -> bool:
    return exchange(port, b"PING\r\n").startswith(b"+PONG")


def is_postgres(port: int) -> bool:
    # A PostgreSQL server answers an SSLRequest with one byte: S or N.
    return exchange(port, (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")) in (b"S", b"N")


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg2://", "postgresql://", 1)


def postgres_binary(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian's packages put it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda path: int(path.split("/")[4]))
    return candidates[-1] if candidates else None


def management_api_works(settings: Settings) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{settings.management_port}/api/overview")
    token = base64.b64encode(b"guest:guest").decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(check, seconds: float, what: str, process: ManagedProcess | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.popen is not None and process.popen.poll() is not None:
            raise StackError(f"{what} exited early; see {process.log_path}")
        time.sleep(0.25)
    raise StackError(f"{what} was not ready after {seconds:.0f}s; see the log under .run/logs/")


# --- processes ---------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """A child process in its own process group, recorded in a PID file."""

    name: str
    argv: list[str]
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)
    prefix_output: bool = False
    stop_signal: int = signal.SIGTERM
    is_service: bool = False  # services stop together, before the servers they use
    popen: subprocess.Popen | None = None

    @property
    def pid_path(self) -> Path:
        return self.settings.run_dir / "pids" / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.settings.run_dir / "logs" / f"{self.name}.log"

    def start(self) -> None:
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

    def _relay_output(self) -> None:
        label = f"{self.name:<13}|"
        if sys.stdout.isatty():
            colour = 31 + SERVICES.index(self.name) % 6 if self.name in SERVICES else 37
            label = f"\033[{colour}m{label}\033[0m"
        with open(self.log_path, "a") as log:
            for line in self.popen.stdout:
                log.write(line)
                log.flush()
                print(f"{label} {line}", end="", flush=True)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self) -> None:
        if self.running():
            signal_group(self.popen.pid, self.stop_signal)

    def wait_stopped(self) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"==> {self.name} did not stop in {STOP_GRACE_SECONDS}s; killing it")
            signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self.pid_path.unlink(missing_ok=True)


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def stop_leftover(name: str, settings: Settings) -> None:
    """Stops a process that an interrupted earlier run of this stack left behind.

    Only a PID recorded in our own PID file whose command line names our run directory
    or project is touched.
    """
    pid_path = settings.run_dir / "pids" / f"{name}.pid"
    if not pid_path.exists():
        return
    try:
        pid = int(pid_path.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (ValueError, OSError):
        pid_path.unlink(missing_ok=True)
        return
    environ = _process_environ(pid)
    if str(settings.run_dir) in cmdline or str(settings.run_dir) in environ:
        print(f"==> stopping {name} (pid {pid}) left over from an earlier run")
        signal_group(pid, signal.SIGTERM)
        for _ in range(STOP_GRACE_SECONDS * 4):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.25)
        else:
            signal_group(pid, signal.SIGKILL)
    pid_path.unlink(missing_ok=True)


def _process_environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


# --- the servers -------------------------------------------------------------------


class Stack:
    """The servers and services of one `make run` or `make test`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.started: list[ManagedProcess] = []

    def start_process(self, process: ManagedProcess) -> ManagedProcess:
        stop_leftover(process.name, self.settings)
        process.start()
        self.started.append(process)
        return process

    def stop(self) -> None:
        """Stops the services together, then the servers they used, newest first."""
        services = [process for process in self.started if process.is_service]
        servers = [process for process in reversed(self.started) if process not in services]
        for batch in [services] + [[server] for server in servers]:
            for process in batch:
                if process.running():
                    print(f"==> stopping {process.name} (pid {process.popen.pid})")
                process.terminate()
            for process in batch:
                process.wait_stopped()
        self.started.clear()

    def ensure_rabbitmq(self, need_management: bool) -> None:
        settings = self.settings
        stop_leftover("rabbitmq", settings)
        if port_is_open(settings.amqp_port):
            if not is_rabbitmq(settings.amqp_port):
                raise StackError(
                    f"Port {settings.amqp_port} is taken by something that is not RabbitMQ. "
                    "Stop it, or set AMQP_PORT to a free port."
                )
            if need_management and not management_api_works(settings):
                raise StackError(
                    f"The RabbitMQ on port {settings.amqp_port} has no management API on port "
                    f"{settings.management_port} (nameko's test fixtures need it). Run "
                    "'rabbitmq-plugins enable rabbitmq_management', or set AMQP_PORT and "
                    "RABBIT_MANAGEMENT_PORT to free ports to get a private RabbitMQ."
                )
            print(f"==> reusing the RabbitMQ already on port {settings.amqp_port}")
            return
        for port, what in ((settings.management_port, "RABBIT_MANAGEMENT_PORT"),
                           (settings.dist_port, "RABBIT_DIST_PORT")):
            if port_is_open(port):
                raise StackError(f"Port {port} is taken; set {what} to a free port.")
        if not Path(RABBITMQ_SERVER).exists():
            raise StackError("rabbitmq-server is not installed; run scripts/bootstrap.sh")
        self._ensure_epmd()
        base = settings.run_dir / "rabbitmq"
        base.mkdir(parents=True, exist_ok=True)
        config = base / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.1 = 127.0.0.1:{settings.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {settings.management_port}\n"
        )
        plugins = base / "enabled_plugins"
        plugins.write_text("[rabbitmq_management].\n")
        env = {
            "HOME": str(base),  # the Erlang cookie lives here, not in the user's home
            "RABBITMQ_NODENAME": f"nameko-shop-{settings.amqp_port}@localhost",
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_PID_FILE": str(base / "beam.pid"),
            "RABBITMQ_DIST_PORT": str(settings.dist_port),
            "ERL_EPMD_PORT": str(settings.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        print(f"==> starting RabbitMQ on 127.0.0.1:{settings.amqp_port} "
              f"(management {settings.management_port})")
        process = self.start_process(
            ManagedProcess("rabbitmq", [RABBITMQ_SERVER], settings, env=env))
        wait_until(lambda: is_rabbitmq(settings.amqp_port) and management_api_works(settings),
                   90, "RabbitMQ", process)

    def _ensure_epmd(self) -> None:
        # Erlang's port mapper; started by us (on loopback) so that we can stop it again.
        stop_leftover("epmd", self.settings)
        if port_is_open(self.settings.epmd_port):
            return
        epmd = ManagedProcess(
            "epmd", ["epmd", "-address", "127.0.0.1", "-port", str(self.settings.epmd_port)],
            self.settings, env={"RUN_DIR": str(self.settings.run_dir)})
        self.start_process(epmd)
        wait_until(lambda: port_is_open(self.settings.epmd_port), 10, "epmd", epmd)

    def ensure_redis(self) -> None:
        settings = self.settings
        stop_leftover("redis", settings)
        if port_is_open(settings.redis_port):
            if not is_redis(settings.redis_port):
                raise StackError(
                    f"Port {settings.redis_port} is taken by something that is not a usable "
                    "Redis. Stop it, or set REDIS_PORT to a free port."
                )
            print(f"==> reusing the Redis already on port {settings.redis_port}")
            return
        data = settings.run_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        print(f"==> starting Redis on 127.0.0.1:{settings.redis_port}")
        argv = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(settings.redis_port),
            "--dir", str(data), "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]
        process = self.start_process(ManagedProcess("redis", argv, settings))
        wait_until(lambda: is_redis(settings.redis_port), 30, "Redis", process)

    def ensure_postgres(self, databases: list[str]) -> None:
        """A PostgreSQL on loopback (ours, fast and throwaway, or one already there) with
        the given databases created."""
        settings = self.settings
        stop_leftover("postgres", settings)
        if port_is_open(settings.postgres_port):
            if not is_postgres(settings.postgres_port):
                raise StackError(
                    f"Port {settings.postgres_port} is taken by something that is not "
                    "PostgreSQL. Stop it, or set POSTGRES_PORT to a free port.")
            print(f"==> reusing the PostgreSQL already on port {settings.postgres_port}")
        else:
            self._start_postgres()
        self._create_databases(databases)

    def _start_postgres(self) -> None:
        settings = self.settings
        initdb, postgres = postgres_binary("initdb"), postgres_binary("postgres")
        if not (initdb and postgres):
            raise StackError("PostgreSQL is not installed; run scripts/bootstrap.sh")
        data = settings.run_dir / "postgres"
        as_owner = []
        if os.geteuid() == 0:  # the server refuses to run as root
            as_owner = ["runuser", "-u", "postgres", "--"]
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            if as_owner:
                shutil.chown(data, "postgres", "postgres")
            print("==> initdb (PostgreSQL data under .run/postgres)")
            subprocess.run([*as_owner, initdb, "-D", str(data), "--auth=trust",
                            "--username=postgres", "--encoding=UTF8", "--no-sync"],
                           check=True, stdout=subprocess.DEVNULL)
        print(f"==> starting PostgreSQL on 127.0.0.1:{settings.postgres_port}")
        # Durability is traded for speed: this server holds test and development data.
        argv = [*as_owner, postgres, "-D", str(data), "-p", str(settings.postgres_port),
                "-h", "127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=300"]
        process = self.start_process(ManagedProcess(
            "postgres", argv, settings, env={"RUN_DIR": str(settings.run_dir)},
            stop_signal=signal.SIGINT))  # SIGINT: a fast shutdown, clients or not
        wait_until(lambda: self._postgres_accepts(), 60, "PostgreSQL", process)

    def _postgres_accepts(self) -> bool:
        import psycopg2  # from the venv; the stack script itself needs only the stdlib
        try:
            psycopg2.connect(libpq_url(self.settings.postgres_uri("postgres")),
                             connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def _create_databases(self, databases: list[str]) -> None:
        import psycopg2
        try:
            connection = psycopg2.connect(libpq_url(self.settings.postgres_uri("postgres")),
                                          connect_timeout=5)
        except psycopg2.OperationalError as error:
            raise StackError(
                f"Cannot connect to the PostgreSQL on port {self.settings.postgres_port} "
                f"({error}). Set POSTGRES_USER/POSTGRES_PASSWORD, or POSTGRES_PORT to a "
                "free port for a private one.") from None
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                for database in databases:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                    if cursor.fetchone() is None:
                        cursor.execute(f'CREATE DATABASE "{database}"')
        finally:
            connection.close()

    def service_env(self) -> dict[str, str]:
        """What every service and test process is told about the stack."""
        settings = self.settings
        return {
            "AMQP_URI": os.environ.get("AMQP_URI", settings.amqp_uri),
            "REDIS_URI": os.environ.get("REDIS_URI", settings.redis_uri),
            "RUN_DIR": str(settings.run_dir),
            # eventlet warns of its own deprecation at every start; nothing to act on here.
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "WEB_SERVER_ADDRESS": os.environ.get(
                "WEB_SERVER_ADDRESS", f"127.0.0.1:{settings.gateway_port}"),
        }


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


def service_command(name: str, nameko: str) -> list[str]:
    if name == "gateway":  # GATEWAY_PROCESSES of them on the one port
        return [sys.executable, "-m", "gateway.processes", "--config", "config.yml"]
    return [nameko, "run", "--config", "config.yml", entry(name)]


def command_run(stack: Stack) -> int:
    settings = stack.settings
    if port_is_open(settings.gateway_port):
        raise StackError(
            f"Port {settings.gateway_port} is taken; stop what listens there or set GATEWAY_PORT.")
    stack.ensure_rabbitmq(need_management=False)
    stack.ensure_redis()
    ensure_jwt_secret(settings)
    nameko = str(Path(sys.executable).parent / "nameko")
    env = stack.service_env()
    print("==> applying migrations")
    subprocess.run([sys.executable, "-m", "shop.migrate"], cwd=ROOT, env={**os.environ, **env},
                   check=True)
    services = [
        stack.start_process(ManagedProcess(
            name, service_command(name, nameko), settings, env=env, prefix_output=True,
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


def interrupt(signum, frame) -> None:
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
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> interrupted")
        return 130
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
