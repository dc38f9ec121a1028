"""The services as users run them: `nameko run --config config.yml <service>.service` processes.

These prove config.yml and its environment variables, the log format, and a clean stop
on SIGTERM while calls are in flight.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import eventlet
import pytest
import requests
from nameko.testing.utils import find_free_port

from tests.conftest import TEST_JWT_SECRET, redis_uri_for_tests
from tests.databases import SERVICES, ScratchDatabases

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
        name = name or service
        log = open(self.log_dir / f"{name}.log", "wb")
        process = subprocess.Popen(
            [NAMEKO, "run", "--config", "config.yml", f"{service}.service"],
            cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
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
        "RUN_DIR": str(tmp_path),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    group = Processes(env, tmp_path)
    group.base_url = f"http://127.0.0.1:{port}"
    yield group
    group.stop_all()


def wait_for_services(base_url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/health/services", timeout=3).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or probing slowly
            pass
        time.sleep(0.2)
    raise AssertionError("the services did not come up")


def sign_up_and_in(base_url: str) -> dict:
    body = {"name": "ada", "email": "ada@example.com", "password": "correct horse"}
    assert requests.post(f"{base_url}/users", json=body).status_code == 201
    credentials = {"email": body["email"], "password": body["password"]}
    token = requests.post(f"{base_url}/signin", json=credentials).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_tour_works_against_nameko_run_processes(processes):
    for service in (*SERVICES, "gateway"):
        processes.start(service)
    wait_for_services(processes.base_url)
    auth = sign_up_and_in(processes.base_url)
    me = requests.get(f"{processes.base_url}/users/me",
                      headers={**auth, "X-Request-ID": "tour-request-1"})
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"
    assert processes.stop("users") == 0
    assert "[tour-request-1] users.get_user ok" in processes.log("users")
    assert "correct horse" not in processes.log("users")


def test_sigterm_stops_the_gateway_cleanly_with_a_call_in_flight(processes):
    for service in (*SERVICES, "gateway"):
        processes.start(service)
    wait_for_services(processes.base_url)
    auth = sign_up_and_in(processes.base_url)
    assert processes.stop("users") == 0

    in_flight = eventlet.spawn(requests.get, f"{processes.base_url}/users/me", headers=auth)
    eventlet.sleep(1.0)  # well inside the 2 s deadline, and long enough to have arrived
    started = time.monotonic()
    assert processes.stop("gateway", timeout=RPC_TIMEOUT_SECONDS + 10) == 0
    assert time.monotonic() - started < RPC_TIMEOUT_SECONDS + 5
    response = in_flight.wait()
    assert response.status_code == 504
    assert response.json()["code"] == "SERVICE_TIMEOUT"


def test_two_gateway_processes_share_one_rate_limit(processes):
    second_port = find_free_port()
    second_url = f"http://127.0.0.1:{second_port}"
    limits = {"RATE_LIMIT_MAX": "4", "RATE_LIMIT_WINDOW_SECONDS": "30"}
    for service in SERVICES:
        processes.start(service)
    processes.start("gateway", **limits)
    processes.start("gateway", name="gateway-2",
                    WEB_SERVER_ADDRESS=f"127.0.0.1:{second_port}", **limits)
    wait_for_services(processes.base_url)  # health is not limited
    wait_for_services(second_url)

    answers = [requests.get(f"{url}/posts").status_code
               for url in (processes.base_url, second_url, processes.base_url, second_url)]
    assert answers == [200, 200, 200, 200]
    for url in (processes.base_url, second_url):
        response = requests.get(f"{url}/posts")
        assert response.status_code == 429
        assert response.headers["RateLimit-Remaining"] == "0"
