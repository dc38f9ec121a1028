"""The services as users run them: `nameko run --config config.yml <service>.service` processes.

These prove config.yml and its environment variables, the log format, and a clean stop
on SIGTERM while calls are in flight.
"""

import time

import eventlet
import requests
from nameko.testing.utils import find_free_port

from tests.databases import SERVICES
from tests.system.conftest import RPC_TIMEOUT_SECONDS, sign_up_and_in, wait_for_services


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
