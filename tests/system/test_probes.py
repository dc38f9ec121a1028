"""The probes a scheduler would run (python -m shop.healthcheck), against real processes:
liveness follows the process, not the broker; readiness follows the broker too."""

import os
import signal
import subprocess
import sys
import time

from devstack.processes import ROOT
from tests.system.conftest import wait_for_services

BEAT_SECONDS = 0.5


def probe(processes, service: str, *flags: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "shop.healthcheck", service, *flags],
                          cwd=ROOT, env={**os.environ, **processes.env}, capture_output=True,
                          text=True, timeout=10)
    return done.returncode, done.stderr.strip()


def until(check, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)


def test_a_broker_outage_fails_readiness_but_not_liveness(processes, private_rabbitmq):
    broker = {"AMQP_URI": private_rabbitmq.settings.amqp_uri,
              "LIVENESS_SECONDS": str(BEAT_SECONDS)}
    processes.start("orders", **broker)
    until(lambda: probe(processes, "orders", "--ready")[0] == 0)
    assert probe(processes, "orders")[0] == 0

    private_rabbitmq.stop()
    until(lambda: probe(processes, "orders", "--ready") ==
          (1, f"orders process {processes.started['orders'].pid} is not consuming from the "
              "broker"))
    time.sleep(4 * BEAT_SECONDS)
    assert probe(processes, "orders") == (0, "")  # alive: restarting it would not help

    private_rabbitmq.start()
    until(lambda: probe(processes, "orders", "--ready")[0] == 0, seconds=60)


def test_a_process_whose_loop_stops_turning_fails_liveness(processes):
    process = processes.start("notifications", LIVENESS_SECONDS=str(BEAT_SECONDS))
    until(lambda: probe(processes, "notifications")[0] == 0)
    process.send_signal(signal.SIGSTOP)  # as a hub blocked by a busy loop would look
    try:
        time.sleep(4 * BEAT_SECONDS)
        code, why = probe(processes, "notifications")
        assert code == 1 and f"notifications process {process.pid} last beat" in why
    finally:
        process.send_signal(signal.SIGCONT)
    until(lambda: probe(processes, "notifications")[0] == 0)

    assert processes.stop("notifications") == 0
    assert probe(processes, "notifications")[0] == 1  # its heartbeat went with it
    assert not list((processes.run_dir / "live").glob("notifications.*"))


def test_the_gateway_is_ready_while_it_serves_and_alive_by_its_heartbeat(processes):
    processes.start("gateway")
    wait_for_services(processes.base_url, path="/health")
    assert probe(processes, "gateway", "--ready") == (0, "")
    assert probe(processes, "gateway") == (0, "")
    assert processes.stop("gateway") == 0
    code, why = probe(processes, "gateway", "--ready")
    assert code == 1 and "/health" in why
