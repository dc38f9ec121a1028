"""The services as users run them: `nameko run --config config.yml <service>.service` processes.

These prove config.yml and its environment variables, the log format, and a clean stop
on SIGTERM while calls are in flight.
"""

import os
import re
import signal
import sys
import time
from pathlib import Path

import eventlet
import requests
from nameko.testing.utils import find_free_port

from gateway.processes import STOP_GRACE_SECONDS
from shop.healthcheck import check
from shop.roster import BACKENDS, SERVICES
from tests.integration.test_metrics import sample
from tests.system.conftest import RPC_TIMEOUT_SECONDS, sign_up_and_in, wait_for_services


def test_the_tour_works_against_nameko_run_processes(processes):
    for service in SERVICES:
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
    for service in SERVICES:
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


def test_a_gateway_told_to_stop_drains_then_exits(processes):
    """SIGTERM with SHUTDOWN_DRAIN_SECONDS: the gateway serves on while /health fails
    readiness and every answer closes its connection, then it exits cleanly."""
    drain_seconds = 3
    for service in BACKENDS:
        processes.start(service)
    gateway = processes.start("gateway", SHUTDOWN_DRAIN_SECONDS=str(drain_seconds))
    base = processes.base_url
    wait_for_services(base)
    kept_alive = requests.Session()
    assert kept_alive.get(f"{base}/products").headers.get("Connection") != "close"

    told = time.monotonic()
    gateway.terminate()
    time.sleep(0.5)
    seen = set()
    while time.monotonic() - told < drain_seconds - 0.5:
        health = requests.get(f"{base}/health", timeout=5)
        products = kept_alive.get(f"{base}/products", timeout=5)
        seen.add((health.status_code, health.json()["status"], products.status_code,
                  products.headers.get("Connection")))
        time.sleep(0.2)
    assert seen == {(503, "draining", 200, "close")}
    assert gateway.wait(10) == 0
    assert drain_seconds <= time.monotonic() - told < drain_seconds + 5
    assert "draining for 3.0 s" in processes.log("gateway")


def test_two_gateway_processes_share_one_rate_limit(processes):
    second_port = find_free_port()
    second_url = f"http://127.0.0.1:{second_port}"
    limits = {"RATE_LIMIT_MAX": "4", "RATE_LIMIT_WINDOW_SECONDS": "30"}
    for service in BACKENDS:
        processes.start(service)
    processes.start("gateway", **limits)
    processes.start("gateway", name="gateway-2",
                    WEB_SERVER_ADDRESS=f"127.0.0.1:{second_port}", **limits)
    # /health/services counts against the limit too: wait as the probes of a scheduler do.
    wait_for_services(processes.base_url, path="/health")
    wait_for_services(second_url, path="/health")
    deadline = time.monotonic() + 30
    while any(check(service, True, processes.env, time.time()) for service in BACKENDS):
        assert time.monotonic() < deadline, "the services did not come up"
        time.sleep(0.2)

    answers = [requests.get(f"{url}/posts").status_code
               for url in (processes.base_url, second_url, processes.base_url, second_url)]
    assert answers == [200, 200, 200, 200]
    for url in (processes.base_url, second_url):
        response = requests.get(f"{url}/posts")
        assert response.status_code == 429
        assert response.headers["RateLimit-Remaining"] == "0"


def test_a_write_retried_through_another_gateway_after_a_restart_replays(processes):
    """The kept answer lives with the write in the service, not in a gateway."""
    second_port = find_free_port()
    second_url = f"http://127.0.0.1:{second_port}"
    for service in SERVICES:
        processes.start(service)
    wait_for_services(processes.base_url)
    auth = {**sign_up_and_in(processes.base_url), "Idempotency-Key": "across-gateways"}
    body = {"title": "Once", "body": "only"}
    first = requests.post(f"{processes.base_url}/posts", json=body, headers=auth)
    assert first.status_code == 201
    assert processes.stop("gateway") == 0
    processes.start("gateway", name="gateway-2", WEB_SERVER_ADDRESS=f"127.0.0.1:{second_port}")
    wait_for_services(second_url)
    again = requests.post(f"{second_url}/posts", json=body, headers=auth)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert requests.get(f"{second_url}/posts").json()["total"] == 1


def launched_pids(processes, name: str) -> list[int]:
    line = re.search(r"gateway: \d+ processes, pids ([\d ]+)", processes.log(name))
    assert line is not None, "the launcher logs its processes' pids"
    return [int(pid) for pid in line.group(1).split()]


def until_each_answered(base_url: str, pids: list[int], metrics_dir: Path) -> None:
    """Until every process has answered a request (each counts into a file of its own):
    a process still starting may hang when told to stop, which another test covers."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answered = {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}
        if answered >= set(pids):
            return
        requests.get(f"{base_url}/health")  # a connection each: the kernel spreads them
    raise AssertionError(f"not every process answered: {answered} of {pids}")


def is_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_gateway_processes_share_one_port_and_sum_their_metrics(processes, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_port = find_free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    launcher = processes.launch("gateways", [sys.executable, "-m", "gateway.processes"],
                                GATEWAY_PROCESSES="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
                                METRICS_PORT=str(metrics_port))
    wait_for_services(processes.base_url, path="/health")
    pids = launched_pids(processes, "gateways")
    assert len(pids) == 2
    until_each_answered(processes.base_url, pids, metrics_dir)  # both serve the one port
    health = {"route": "/health", "method": "GET", "status": "200"}
    before = sample(requests.get(metrics_url).text, "shop_http_requests_total", **health)

    for _ in range(100):  # a connection each: the kernel spreads them over both processes
        assert requests.get(f"{processes.base_url}/health").status_code == 200

    after = sample(requests.get(metrics_url).text, "shop_http_requests_total", **health)
    assert after - before == 100  # the launcher serves the sum of both processes
    assert requests.get(f"{processes.base_url}/metrics").status_code == 404

    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(20) == 0
    assert not any(is_running(pid) for pid in pids)


def test_one_gateway_process_ending_stops_the_launcher(processes, tmp_path):
    launcher = processes.launch("gateways", [sys.executable, "-m", "gateway.processes"],
                                GATEWAY_PROCESSES="2")
    wait_for_services(processes.base_url, path="/health")
    metrics_dirs = list(tmp_path.glob("gateway-metrics-*"))
    assert len(metrics_dirs) == 1  # under RUN_DIR
    first, second = launched_pids(processes, "gateways")
    until_each_answered(processes.base_url, [first, second], metrics_dirs[0])

    os.kill(first, signal.SIGKILL)
    assert launcher.wait(20) == 1  # its supervisor (make run, compose) restarts it
    assert not is_running(second)
    assert "exited with -9; stopping the others" in processes.log("gateways")
    assert not list(tmp_path.glob("gateway-metrics-*"))


def test_a_stop_while_the_processes_start_still_ends_them_all(processes):
    launcher = processes.launch("gateways", [sys.executable, "-m", "gateway.processes"],
                                GATEWAY_PROCESSES="2")
    for _ in range(100):  # as soon as they exist, before they serve
        if "processes, pids" in processes.log("gateways"):
            break
        time.sleep(0.05)
    pids = launched_pids(processes, "gateways")
    time.sleep(1)  # importing and starting, not yet serving
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(STOP_GRACE_SECONDS + 10)  # stopped gracefully, or killed after the grace
    assert not any(is_running(pid) for pid in pids)


def test_a_launcher_killed_outright_takes_its_processes_along(processes, tmp_path):
    launcher = processes.launch("gateways", [sys.executable, "-m", "gateway.processes"],
                                GATEWAY_PROCESSES="2")
    wait_for_services(processes.base_url, path="/health")
    pids = launched_pids(processes, "gateways")
    until_each_answered(processes.base_url, pids, next(tmp_path.glob("gateway-metrics-*")))

    launcher.kill()
    launcher.wait(10)
    deadline = time.monotonic() + 10
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(is_running(pid) for pid in pids)


def test_a_bad_process_count_is_refused_with_its_name(processes):
    launcher = processes.launch("gateways", [sys.executable, "-m", "gateway.processes"],
                                GATEWAY_PROCESSES="many")
    assert launcher.wait(20) == 2
    assert "GATEWAY_PROCESSES must be a whole number from 1 to 32, not 'many'" \
        in processes.log("gateways")
