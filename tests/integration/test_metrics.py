"""The gateway's metrics on METRICS_PORT: Prometheus text with requests, latencies, RPCs,
cache, rate limits and dead letters; nothing of it on the public port."""

import re

import pytest
import requests
from nameko.testing.utils import find_free_port

from gateway import watch
from tests.integration.test_redis_sentinel import wait_for


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Scraper:
    """Reads the metrics where Prometheus would: the process's METRICS_PORT."""

    def __init__(self, port: int) -> None:
        self.port = str(port)
        self.url = f"http://127.0.0.1:{port}/metrics"

    def get(self) -> requests.Response:
        return requests.get(self.url, timeout=5)

    @property
    def text(self) -> str:
        return self.get().text


@pytest.fixture
def scraper():
    return Scraper(find_free_port())


@pytest.fixture
def tight_api(start_system, scraper):
    return start_system(RATE_LIMIT_MAX=5, RATE_LIMIT_WINDOW_SECONDS=30,
                        METRICS_PORT=scraper.port)[1]


@pytest.fixture
def metered_api(start_system, scraper, monkeypatch):
    monkeypatch.setattr(watch, "REFRESH_SECONDS", 0.2)
    return start_system(METRICS_PORT=scraper.port)[1]


def test_metrics_count_requests_rpcs_cache_and_limits(tight_api, scraper):
    api = tight_api
    before = scraper.text
    # Counted per address (the signed-in post counts for its user instead):
    _, auth = api.user_with_token()                       # 1, 2
    post = api.post(auth)
    for _ in range(2):
        api.http.get(f"/posts/{post['id']}")              # 3, 4: a miss, then a hit
    api.http.get("/nowhere")                              # 5
    assert api.http.get("/posts").status_code == 429      # 6: over the limit

    response = scraper.get()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.text
    grew = lambda name, **labels: sample(after, name, **labels) - sample(before, name, **labels)  # noqa: E731
    assert grew("shop_http_requests_total", route="/posts/{post_id}", method="GET",
                status="200") == 2
    assert grew("shop_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert grew("shop_http_request_duration_seconds_count", route="/posts/{post_id}",
                method="GET") == 2
    assert grew("shop_rpc_duration_seconds_count", service="posts", method="get_post") == 1
    assert grew("shop_rpc_errors_total", service="users", method="sign_in") == 0
    assert grew("shop_cache_lookups_total", kind="post", result="hit") == 1
    assert grew("shop_cache_lookups_total", kind="post", result="miss") == 1
    assert grew("shop_rate_limited_requests_total", route="/posts") == 1
    assert re.search(r'shop_http_request_duration_seconds_bucket\{.*le="0\.1"', after)


def test_rpc_errors_are_counted_by_kind(metered_api, scraper):
    api = metered_api
    before = scraper.text
    api.http.post("/signin", json={"email": "nobody@example.com", "password": "whatever1"})
    after = scraper.text
    assert sample(after, "shop_rpc_errors_total", service="users", method="sign_in",
                  error="UNAUTHORIZED") - sample(before, "shop_rpc_errors_total",
                                                 service="users", method="sign_in",
                                                 error="UNAUTHORIZED") == 1


def test_dead_letters_are_counted_per_service_over_one_connection(
        start_system, scraper, config, monkeypatch):
    from kombu.connection import Connection

    from shop.redelivery import dead_letter_queue

    opened = []

    class CountedConnection(Connection):
        def ensure_connection(self, *args, **kwargs):
            opened.append(self)
            return super().ensure_connection(*args, **kwargs)

    monkeypatch.setattr(watch, "Connection", CountedConnection)
    monkeypatch.setattr(watch, "REFRESH_SECONDS", 0.1)
    start_system(METRICS_PORT=scraper.port)
    assert wait_for(lambda: 'shop_dead_letters{service="notifications"} 0.0' in scraper.text)
    with Connection(config["AMQP_URI"]) as connection:
        producer = connection.Producer()
        for _ in range(2):
            producer.publish({"id": "x"}, exchange="", routing_key=dead_letter_queue("posts"),
                             declare=[])
    assert wait_for(lambda: sample(scraper.text, "shop_dead_letters", service="posts") == 2)
    for _ in range(30):  # a scraper gone wild costs the broker nothing
        assert scraper.get().status_code == 200
    assert len(opened) == 1  # refreshed many times over, on the one connection


def test_the_public_port_serves_no_metrics(metered_api):
    answer = metered_api.http.get("/metrics")
    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"

