"""Real `nameko run` processes for system tests, each stopped by its PID."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import find_free_port

from shop.roster import entry
from tests.conftest import TEST_JWT_SECRET, redis_uri_for_tests
from tests.databases import ScratchDatabases

ROOT = Path(__file__).resolve().parents[2]
NAMEKO = str(Path(sys.executable).parent / "nameko")
RPC_TIMEOUT_SECONDS = 2


class Processes:
    """Starts services as child processes and stops each by its PID."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, service: str, name: str | None = None, **env) -> subprocess.Popen:
        return self.launch(name or service,
                           [NAMEKO, "run", "--config", "config.yml", entry(service)], **env)

    def launch(self, name: str, argv: list[str], **env) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=log,
                                   stderr=subprocess.STDOUT)
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text()

    def stop(self, service: str, timeout: float = 15) -> int:
        process = self.started[service]
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


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
    group = Processes(env, tmp_path)
    group.base_url = f"http://127.0.0.1:{port}"
    group.rpc_config = {"AMQP_URI": rabbit_config["AMQP_URI"]}
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
        from scripts.stack import ROOT as STACK_ROOT
        from scripts.stack import Settings, Stack

        self.kind = kind
        self.databases = list(databases)
        # Under the project, not /tmp: PostgreSQL runs as its own user and must reach it.
        self.run_dir = STACK_ROOT / ".run" / "private" / uuid.uuid4().hex[:12]
        ports = {name: str(find_free_port()) for name in (
            "AMQP_PORT", "RABBIT_MANAGEMENT_PORT", "RABBIT_DIST_PORT", "POSTGRES_PORT")}
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
