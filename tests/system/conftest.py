"""Real `nameko run` processes for system tests, each stopped by its PID."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import find_free_port

from devstack.processes import ROOT, ManagedProcess, nameko_run
from devstack.servers import Settings, Stack
from shop.roster import entry
from tests.conftest import TEST_JWT_SECRET, redis_uri_for_tests
from tests.databases import ScratchDatabases

RPC_TIMEOUT_SECONDS = 2


class Processes:
    """One test's services, each a devstack ManagedProcess stopped by its PID."""

    def __init__(self, env: dict, run_dir: Path, base_url: str, rpc_config: dict):
        self.env = env
        self.run_dir = run_dir
        self.base_url = base_url
        self.rpc_config = rpc_config
        self.started: dict[str, ManagedProcess] = {}

    def start(self, service: str, name: str | None = None, **env) -> ManagedProcess:
        return self.launch(name or service, nameko_run(entry(service)), **env)

    def launch(self, name: str, argv: list[str], **env) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.run_dir, env={**self.env, **env}).start()
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return self.started[name].log()

    def stop(self, service: str, timeout: float = 15) -> int:
        """Its exit code after SIGTERM; TimeoutExpired (and killed) if it hangs."""
        return self.started[service].stop(timeout)

    def stop_all(self) -> None:
        for process in self.started.values():
            process.kill()


@pytest.fixture
def migrated_databases(tmp_path):
    """This test's databases, made by the services' migrations as `make run` makes them."""
    with ScratchDatabases.on_test_server(tmp_path, make_tables=False) as uris:
        env = {**os.environ, "DB_URIS": json.dumps(uris)}
        subprocess.run([sys.executable, "-m", "shop.migrate"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield uris


@pytest.fixture
def processes(rabbit_config, tmp_path, redis_client, migrated_databases):
    port = find_free_port()
    env = {
        **os.environ,
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "DB_URIS": json.dumps(migrated_databases),
        "REDIS_URI": redis_uri_for_tests(),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "RPC_TIMEOUT_SECONDS": str(RPC_TIMEOUT_SECONDS),
        "RATE_LIMIT_MAX": "1000000",  # tests that are about limits set their own
        "SIGNIN_RATE_LIMIT_MAX": "1000000",
        "RUN_DIR": str(tmp_path),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    group = Processes(env, tmp_path, f"http://127.0.0.1:{port}",
                      {"AMQP_URI": rabbit_config["AMQP_URI"]})
    yield group
    group.stop_all()


def wait_for_services(base_url: str, seconds: float = 30, path: str = "/health/services") -> None:
    """Until the gateway answers 200 on path: every service (or just itself, on /health)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}{path}", timeout=3).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or probing slowly
            pass
        time.sleep(0.2)
    raise AssertionError("the services did not come up")


def sign_up_and_in(base_url: str, name: str = "ada", admin: bool = False,
                   config: dict | None = None) -> dict:
    """Authorization headers of a new user (made an admin over RPC when asked)."""
    body = {"name": name, "email": f"{name}@example.com", "password": "correct horse"}
    signed_up = requests.post(f"{base_url}/users", json=body)
    assert signed_up.status_code == 201, signed_up.text
    if admin:
        with ClusterRpcProxy(config) as rpc:
            rpc.users.set_role(signed_up.json()["id"], "admin")
    credentials = {"email": body["email"], "password": body["password"]}
    token = requests.post(f"{base_url}/signin", json=credentials).json()["token"]
    return {"Authorization": f"Bearer {token}"}


class PrivateServer:
    """A RabbitMQ or PostgreSQL of one test's own, on free ports, that the test may stop
    and start again (the shared servers of `make test` are never touched)."""

    def __init__(self, kind: str, databases: tuple[str, ...] = ()):

        self.kind = kind
        self.databases = list(databases)
        # Under the project, not /tmp: PostgreSQL runs as its own user and must reach it.
        self.run_dir = ROOT / ".run" / "private" / uuid.uuid4().hex[:12]
        ports = {name: str(find_free_port()) for name in (
            "AMQP_PORT", "RABBIT_MANAGEMENT_PORT", "RABBIT_DIST_PORT", "RABBIT_PROMETHEUS_PORT",
            "POSTGRES_PORT")}
        self.stack = Stack(Settings.from_env({**os.environ, "RUN_DIR": str(self.run_dir),
                                              **ports}))
        self.settings = self.stack.settings

    def start(self) -> None:
        if self.kind == "rabbitmq":
            self.stack.ensure_rabbitmq(need_management=False)
        else:
            self.stack.ensure_postgres(self.databases)

    def stop(self) -> None:
        for process in [p for p in self.stack.started if p.name == self.kind]:
            process.terminate()
            process.wait_stopped()
            self.stack.started.remove(process)

    def close(self) -> None:
        self.stack.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture
def private_rabbitmq():
    server = PrivateServer("rabbitmq")
    server.start()
    yield server
    server.close()
