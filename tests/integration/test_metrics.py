"""GET /metrics: Prometheus text with requests, latencies, RPCs, cache and rate limits."""

import re

import pytest


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def tight_api(start_system):
    return start_system(RATE_LIMIT_MAX=5, RATE_LIMIT_WINDOW_SECONDS=30)[1]


def test_metrics_count_requests_rpcs_cache_and_limits(tight_api):
    api = tight_api
    before = api.http.get("/metrics").text
    # Counted per address (the signed-in post counts for its user instead):
    _, auth = api.user_with_token()                       # 1, 2
    post = api.post(auth)
    for _ in range(2):
        api.http.get(f"/posts/{post['id']}")              # 3, 4: a miss, then a hit
    api.http.get("/nowhere")                              # 5
    assert api.http.get("/posts").status_code == 429      # 6: over the limit

    response = api.http.get("/metrics")
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


def test_rpc_errors_are_counted_by_kind(api):
    before = api.http.get("/metrics").text
    api.http.post("/signin", json={"email": "nobody@example.com", "password": "whatever1"})
    after = api.http.get("/metrics").text
    assert sample(after, "shop_rpc_errors_total", service="users", method="sign_in",
                  error="UNAUTHORIZED") - sample(before, "shop_rpc_errors_total",
                                                 service="users", method="sign_in",
                                                 error="UNAUTHORIZED") == 1


def test_dead_letters_are_counted_per_service(api, config):
    from kombu.connection import Connection

    from shop.redelivery import dead_letter_queue

    text = api.http.get("/metrics").text
    assert 'shop_dead_letters{service="notifications"} 0.0' in text
    with Connection(config["AMQP_URI"]) as connection:
        producer = connection.Producer()
        for _ in range(2):
            producer.publish({"id": "x"}, exchange="", routing_key=dead_letter_queue("posts"),
                             declare=[])
    assert sample(api.http.get("/metrics").text, "shop_dead_letters", service="posts") == 2
