"""The cluster of `make cluster-test`, built from real servers on hosts of its own making
(devstack.netns): three RabbitMQ nodes, a Redis master and replica with three Sentinels,
PostgreSQL behind PgBouncer, and two application hosts each running every service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from devstack.netns import Network
from devstack.processes import ManagedProcess, nameko_run
from devstack.servers import RABBITMQ_SERVER, postgres_binary
from shop.roster import BACKENDS, SERVICES, entry
from tests.conftest import TEST_JWT_SECRET
from tests.sentinel import replica_promotable

HOSTS = {"rabbit1": 11, "rabbit2": 12, "rabbit3": 13,
         "redis1": 21, "redis2": 22, "redis3": 23,
         "db": 31, "app1": 41, "app2": 42}
RABBITS = ("rabbit1", "rabbit2", "rabbit3")
REDISES = ("redis1", "redis2", "redis3")  # master, replica; a Sentinel on each of the 3
APPS = ("app1", "app2")
COOKIE = "nameko-shop-cluster-test"
SENTINEL_PORT = 26379
PGBOUNCER_PORT = 6432
HEARTBEAT_SECONDS = 4
RPC_TIMEOUT_SECONDS = 4


def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def connects(url: str) -> bool:
    import psycopg2

    psycopg2.connect(url, connect_timeout=2).close()
    return True


class Cluster:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.network = Network(HOSTS)
        self.processes: dict[str, ManagedProcess] = {}

    # --- starting and stopping ---------------------------------------------------

    def start(self, name: str, host: str, argv: list[str], env: dict[str, str] | None = None,
              **options) -> ManagedProcess:
        process = ManagedProcess(name, self.network[host].argv(*argv), self.run_dir,
                                 env=env or {}, **options).start()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def stop_all(self) -> None:
        """Services first, then the servers; SIGKILL whatever does not stop in time."""
        apps = [name for name in self.processes if name.split("@")[0] in SERVICES]
        for batch in (apps, [name for name in self.processes if name not in apps]):
            for name in batch:
                self.processes[name].terminate()
            for name in batch:
                self.processes[name].wait_stopped(15)

    def address(self, host: str) -> str:
        return str(self.network[host].address)

    # --- RabbitMQ ------------------------------------------------------------------

    def rabbit_env(self, host: str) -> dict[str, str]:
        base = self.run_dir / host / "rabbitmq"
        return {"HOME": str(base), "RABBITMQ_NODENAME": f"rabbit@{host}",
                "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(base / "log"), "RABBITMQ_LOGS": "-",
                "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(base / "beam.pid")}

    def start_rabbit(self, host: str) -> None:
        base = self.run_dir / host / "rabbitmq"
        if not base.exists():
            base.mkdir(parents=True)
            cookie = base / ".erlang.cookie"
            cookie.write_text(COOKIE)
            cookie.chmod(0o400)
            peers = "".join(f"cluster_formation.classic_config.nodes.{i} = rabbit@{peer}\n"
                            for i, peer in enumerate(RABBITS, 1))
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = {self.address(host)}:5672\n"
                f"management.tcp.ip = {self.address(host)}\n"
                "management.tcp.port = 15672\n"
                "loopback_users = none\n"
                "cluster_partition_handling = pause_minority\n"
                "cluster_formation.peer_discovery_backend = classic_config\n" + peers)
            (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        self.start(f"epmd@{host}", host, ["epmd"], env={"HOME": str(base)})
        self.start(f"rabbitmq@{host}", host, [RABBITMQ_SERVER], env=self.rabbit_env(host))

    def rabbit_api(self, host: str, path: str) -> object:
        reply = requests.get(f"http://guest:guest@{self.address(host)}:15672/api/{path}",
                             timeout=5)
        reply.raise_for_status()
        return reply.json()

    def running_rabbits(self, asked: str) -> set[str]:
        nodes = self.rabbit_api(asked, "nodes")
        assert isinstance(nodes, list)
        return {node["name"].split("@")[1] for node in nodes if node["running"]}

    def start_rabbitmq_cluster(self) -> None:
        self.start_rabbit(RABBITS[0])  # the others join it
        until(lambda: self.running_rabbits(RABBITS[0]) == {RABBITS[0]}, 90, "rabbit1")
        for host in RABBITS[1:]:
            self.start_rabbit(host)
        until(lambda: self.running_rabbits(RABBITS[0]) == set(RABBITS), 120,
              "a RabbitMQ cluster of three")

    def amqp_uri(self) -> str:
        return ";".join(f"pyamqp://guest:guest@{host}:5672/" for host in RABBITS)

    def queue_leader(self, queue: str) -> str:
        found = self.rabbit_api(self.any_running_rabbit(), f"queues/%2F/{queue}")
        assert isinstance(found, dict)
        return str(found["leader"]).split("@")[1]

    def any_running_rabbit(self) -> str:
        for host in RABBITS:
            try:
                self.rabbit_api(host, "overview")
                return host
            except requests.RequestException:
                continue
        raise AssertionError("no RabbitMQ node answers")

    def consumers(self) -> dict[str, int]:
        """Consumers per queue, as the cluster counts them."""
        listed = self.rabbit_api(self.any_running_rabbit(), "consumers")
        assert isinstance(listed, list)
        counts: dict[str, int] = {}
        for consumer in listed:
            name = consumer["queue"]["name"]
            counts[name] = counts.get(name, 0) + 1
        return counts

    # --- Redis and its Sentinels --------------------------------------------------

    def start_redis(self, host: str, replica_of: str | None = None) -> None:
        data = self.run_dir / host / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [shutil.which("redis-server") or "redis-server", "--bind", self.address(host),
                "--port", "6379", "--dir", str(data), "--save", "", "--appendonly", "no",
                "--protected-mode", "no"]
        if replica_of:
            argv += ["--replicaof", self.address(replica_of), "6379"]
        self.start(f"redis@{host}", host, argv)

    def start_sentinel(self, host: str) -> None:
        data = self.run_dir / host / "sentinel"
        data.mkdir(parents=True, exist_ok=True)
        config = data / "sentinel.conf"  # the Sentinel rewrites it as it learns
        config.write_text(
            f"bind {self.address(host)}\nport {SENTINEL_PORT}\ndir {data}\n"
            "protected-mode no\n"
            f"sentinel monitor mymaster {self.address(REDISES[0])} 6379 2\n"
            "sentinel down-after-milliseconds mymaster 2000\n"
            "sentinel failover-timeout mymaster 10000\n")
        self.start(f"sentinel@{host}", host,
                   [shutil.which("redis-server") or "redis-server", str(config), "--sentinel"])

    def start_redis_with_sentinels(self) -> None:
        import redis

        self.start_redis(REDISES[0])
        self.start_redis(REDISES[1], replica_of=REDISES[0])
        for host in REDISES:
            self.start_sentinel(host)
        watcher = redis.Redis(host=self.address(REDISES[2]), port=SENTINEL_PORT,
                              decode_responses=True, socket_timeout=2)
        def watched() -> bool:
            master: Any = watcher.sentinel_master("mymaster")
            return (int(master["num-other-sentinels"]) == 2
                    and replica_promotable(watcher, "mymaster"))

        until(watched, 60, "three Sentinels watching a master and its replica")

    def redis_master(self) -> str:
        import redis

        for host in REDISES:
            try:
                watcher = redis.Redis(host=self.address(host), port=SENTINEL_PORT,
                                      decode_responses=True, socket_timeout=2)
                found: Any = watcher.sentinel_get_master_addr_by_name("mymaster")
                address = found[0]
            except redis.RedisError:
                continue
            return next(name for name in REDISES if self.address(name) == address)
        raise AssertionError("no Sentinel answers")

    def redis_client(self, host: str) -> Any:
        import redis

        return redis.Redis(host=self.address(host), port=6379, socket_timeout=2)

    def sentinels(self) -> str:
        return ",".join(f"{self.address(host)}:{SENTINEL_PORT}" for host in REDISES)

    # --- PostgreSQL behind PgBouncer ----------------------------------------------

    def start_database(self) -> None:
        import psycopg2

        initdb, postgres = postgres_binary("initdb"), postgres_binary("postgres")
        assert initdb and postgres, "PostgreSQL is not installed (scripts/bootstrap.sh)"
        data = self.run_dir / "db" / "postgres"
        data.mkdir(parents=True)
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(data.parent, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_postgres, initdb, "-D", str(data), "--auth=trust",
                        "--username=postgres", "--encoding=UTF8", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL)
        (data / "pg_hba.conf").write_text("host all all 0.0.0.0/0 trust\n")
        self.start("postgres@db", "db", [
            *as_postgres, postgres, "-D", str(data), "-p", "5432", "-h", self.address("db"),
            "-c", "unix_socket_directories=", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "max_connections=200"],
            stop_signal=2)
        url = f"host={self.address('db')} port=5432 user=postgres dbname=postgres"
        until(lambda: connects(url), 60, "PostgreSQL")
        connection = psycopg2.connect(url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for service in BACKENDS:
                cursor.execute(f'CREATE DATABASE "{service}"')
        connection.close()
        config = self.run_dir / "db" / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={self.address('db')} port=5432 user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = {self.address('db')}\nlisten_port = {PGBOUNCER_PORT}\n"
            "unix_socket_dir =\nauth_type = any\npool_mode = transaction\n"
            "default_pool_size = 10\nmax_client_conn = 1000\nuser = postgres\n")
        config.chmod(0o644)
        self.start("pgbouncer@db", "db", [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer",
                                          str(config)])
        until(lambda: connects(self.database_url("users", libpq=True)), 30, "PgBouncer")

    def database_url(self, service: str, libpq: bool = False, host: str = "db") -> str:
        """Through PgBouncer; by the host's name (in the hosts) or address (the test's)."""
        if libpq:
            return (f"host={self.address('db')} port={PGBOUNCER_PORT} user=postgres "
                    f"dbname={service}")
        return f"postgresql+psycopg2://postgres@{host}:{PGBOUNCER_PORT}/{service}"

    def database_urls(self) -> dict[str, str]:
        """What the test itself connects to (it resolves no host names)."""
        return {f"{service}:Base": self.database_url(service, host=self.address("db"))
                for service in BACKENDS}

    # --- the application hosts ----------------------------------------------------

    def app_env(self, host: str) -> dict[str, str]:
        db_uris = {f"{service}:Base": self.database_url(service) for service in BACKENDS}
        return {
            "AMQP_URI": self.amqp_uri(),
            "HEARTBEAT": str(HEARTBEAT_SECONDS),
            "REDIS_SENTINELS": self.sentinels(),
            "DB_URIS": json.dumps(db_uris),
            "JWT_SECRET": TEST_JWT_SECRET,
            "BCRYPT_ROUNDS": "4",
            "RPC_TIMEOUT_SECONDS": str(RPC_TIMEOUT_SECONDS),
            "RATE_LIMIT_MAX": "1000000",
            "SIGNIN_RATE_LIMIT_MAX": "1000000",
            "WEB_SERVER_ADDRESS": f"{self.address(host)}:8000",
            "RUN_DIR": str(self.run_dir / host),
            "MAX_WORKERS": "20",
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }

    def migrate(self) -> None:
        env = self.app_env(APPS[0])
        subprocess.run(self.network[APPS[0]].argv(sys.executable, "-m", "shop.migrate"),
                       env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)

    def start_app(self, host: str) -> None:
        (self.run_dir / host).mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            self.start(f"{service}@{host}", host, nameko_run(entry(service)),
                       env=self.app_env(host), is_service=True)

    def gateway_url(self, host: str) -> str:
        return f"http://{self.address(host)}:8000"

    def apps_answer(self, host: str) -> bool:
        reply = requests.get(self.gateway_url(host) + "/health/services", timeout=5)
        return reply.status_code == 200

    def stop_app(self, host: str) -> None:
        for service in SERVICES:
            self.processes[f"{service}@{host}"].kill()

    def rabbitmqctl(self, host: str, *args: str) -> str:
        done = subprocess.run(self.network[host].argv(
            "/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", f"rabbit@{host}", *args),
            env={**os.environ, **self.rabbit_env(host)}, capture_output=True, text=True,
            timeout=60, check=True)
        return done.stdout
