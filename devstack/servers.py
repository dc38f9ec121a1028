"""The servers of the local stack (RabbitMQ, Redis, PostgreSQL) on loopback, started
when none of the right kind already listens on their port, and stopped again.

A server found already listening is reused and left alone; one started here has its
data under the run directory and is stopped by its PID. Standard library only.
"""

from __future__ import annotations

import base64
import glob
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devstack.processes import (
    ROOT,
    ManagedProcess,
    StartFailed,
    stop_leftover,
    wait_until,
)

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
TEST_DATABASE = "nameko_shop_test"


class StackError(StartFailed):
    """A problem the user must fix; printed without a traceback."""


@dataclass(frozen=True)
class Settings:
    run_dir: Path
    amqp_port: int
    management_port: int
    rabbit_prometheus_port: int
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
            rabbit_prometheus_port=int(env.get("RABBIT_PROMETHEUS_PORT", "15692")),
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
            return bool(response.status == 200)
    except OSError:
        return False


# --- the servers ---------------------------------------------------------------


class Stack:
    """The servers and services of one `make run` or `make test`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started: list[ManagedProcess] = []

    def start_process(self, process: ManagedProcess) -> ManagedProcess:
        stop_leftover(process.name, self.settings.run_dir)
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
                    print(f"==> stopping {process.name} (pid {process.pid})")
                process.terminate()
            for process in batch:
                process.wait_stopped()
        self.started.clear()

    def ensure_rabbitmq(self, need_management: bool, fresh: bool = False) -> None:
        """A RabbitMQ on loopback: one already on the port, or ours; fresh: ours starts
        with no data (no queues of an earlier run, of another type or shape)."""
        settings = self.settings
        stop_leftover("rabbitmq", settings.run_dir)
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
        if fresh:
            shutil.rmtree(base / "mnesia", ignore_errors=True)
        base.mkdir(parents=True, exist_ok=True)
        config = base / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.1 = 127.0.0.1:{settings.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {settings.management_port}\n"
            # Queue depths for Prometheus (deploy/observability/prometheus.yml).
            f"prometheus.tcp.ip = 127.0.0.1\n"
            f"prometheus.tcp.port = {settings.rabbit_prometheus_port}\n"
        )
        plugins = base / "enabled_plugins"
        plugins.write_text("[rabbitmq_management,rabbitmq_prometheus].\n")
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
            ManagedProcess("rabbitmq", [RABBITMQ_SERVER], settings.run_dir, env=env))
        wait_until(lambda: is_rabbitmq(settings.amqp_port) and management_api_works(settings),
                   90, "RabbitMQ", process)

    def _ensure_epmd(self) -> None:
        # Erlang's port mapper; started by us (on loopback) so that we can stop it again.
        stop_leftover("epmd", self.settings.run_dir)
        if port_is_open(self.settings.epmd_port):
            return
        epmd = ManagedProcess(
            "epmd", ["epmd", "-address", "127.0.0.1", "-port", str(self.settings.epmd_port)],
            self.settings.run_dir, env={"RUN_DIR": str(self.settings.run_dir)})
        self.start_process(epmd)
        wait_until(lambda: port_is_open(self.settings.epmd_port), 10, "epmd", epmd)

    def ensure_redis(self) -> None:
        settings = self.settings
        stop_leftover("redis", settings.run_dir)
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
        process = self.start_process(ManagedProcess("redis", argv, settings.run_dir))
        wait_until(lambda: is_redis(settings.redis_port), 30, "Redis", process)

    def ensure_postgres(self, databases: list[str]) -> None:
        """A PostgreSQL on loopback (ours, fast and throwaway, or one already there) with
        the given databases created."""
        settings = self.settings
        stop_leftover("postgres", settings.run_dir)
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
            "postgres", argv, settings.run_dir, env={"RUN_DIR": str(settings.run_dir)},
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
