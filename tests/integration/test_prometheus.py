"""A real Prometheus on loopback scrapes the running shop with deploy/observability's
config and rules, and its metrics, recorded series and queue depths are queried back;
every query of the dashboard and the rules names a metric the shop exports."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import requests
import yaml
from nameko.testing.utils import find_free_port

from tests.observability import (
    OBSERVABILITY,
    RULES,
    dashboard_expressions,
    exported_names,
    metric_names,
    recorded_names,
    rule_expressions,
)

# devstack enables RabbitMQ's prometheus plugin, on RABBIT_PROMETHEUS_PORT
RABBIT_PROMETHEUS = f"127.0.0.1:{os.environ.get('RABBIT_PROMETHEUS_PORT', '15692')}"
QUEUE_DEPTHS = f"http://{RABBIT_PROMETHEUS}/metrics/detailed?family=queue_coarse_metrics"


@pytest.fixture
def metrics_port():
    return find_free_port()


@pytest.fixture
def shop_with_metrics(start_system, metrics_port):
    """The shop in this process: the gateway's metrics and the backends' on one port
    (one process, one registry; make run gives each process its own)."""
    _, api = start_system(METRICS_PORT=metrics_port)
    return api


def scrape_config(tmp_path, gateway, backends):
    """deploy/observability/prometheus.yml, aimed at this test's processes, every second."""
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    targets = {"gateway": [gateway], "services": [backends], "rabbitmq": [RABBIT_PROMETHEUS]}
    for job in config["scrape_configs"]:
        labels = job["static_configs"][0].get("labels", {})
        job["static_configs"] = [{"targets": targets[job["job_name"]], "labels": labels}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def prometheus(tmp_path, shop_with_metrics, metrics_port):
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: scripts/bootstrap.sh test installs it"
    gateway = f"127.0.0.1:{metrics_port}"
    port = find_free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={scrape_config(tmp_path, gateway, f'127.0.0.1:{metrics_port}')}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        assert until(lambda: ready(url), 30), (tmp_path / "prometheus.log").read_text()[-2000:]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ready(url):
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def until(check, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    return check()


def query(url, expression):
    with urllib.request.urlopen(f"{url}/api/v1/query?"
                                + urllib.parse.urlencode({"query": expression})) as reply:
        answer = json.load(reply)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def rabbit_plugin_serves():
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(tuple_of(RABBIT_PROMETHEUS)) == 0


def tuple_of(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def test_prometheus_scrapes_the_shop_and_evaluates_the_rules(prometheus, shop_with_metrics):
    api = shop_with_metrics
    api.sign_up("prom")
    assert api.http.get("/products").status_code == 200

    # job="gateway": in this one process the backends' port serves the same registry.
    answered = until(lambda: query(prometheus, 'shop_http_requests_total{job="gateway",'
                                               'route="/users",method="POST",status="201"}'),
                     20)
    assert answered and answered[0]["metric"]["service"] == "gateway"
    worked = until(lambda: query(prometheus, 'shop_worker_duration_seconds_count{'
                                             'job="services",service="users",kind="rpc"}'), 20)
    assert worked, "the backends' port was not scraped"
    assert {sample["metric"]["job"] for sample in query(prometheus, "up == 1")} >= {
        "gateway", "services"}
    # A recording rule of rules/shop.rules.yml, evaluated on what was scraped.
    assert until(lambda: query(prometheus, 'shop:http_requests:rate5m{route="/users"}'), 20)


@pytest.mark.skipif(not rabbit_plugin_serves(),
                    reason="this RabbitMQ has no prometheus plugin (devstack enables it)")
def test_prometheus_reads_the_depth_of_every_rpc_queue(prometheus, shop_with_metrics):
    depths = until(lambda: query(prometheus, 'rabbitmq_detailed_queue_messages_ready{'
                                             'queue="rpc-orders"}'), 20)
    assert depths and float(depths[0]["value"][1]) >= 0


def test_the_dashboard_and_the_rules_name_only_metrics_the_shop_exports(
        shop_with_metrics, metrics_port):
    exported = exported_names(requests.get(f"http://127.0.0.1:{metrics_port}/metrics",
                                           timeout=5).text)
    if rabbit_plugin_serves():
        exported |= exported_names(requests.get(QUEUE_DEPTHS, timeout=5).text)
    else:  # queue depths are RabbitMQ's, not the shop's
        exported.add("rabbitmq_detailed_queue_messages_ready")
    known = exported | recorded_names() | {"up"}
    for expression in dashboard_expressions() + rule_expressions():
        unknown = metric_names(expression) - known
        assert not unknown, f"{expression!r} names {unknown}, which nothing exports"
    assert "shop_notification_deliveries_total" in exported
    assert "shop_worker_failures_total" in exported
