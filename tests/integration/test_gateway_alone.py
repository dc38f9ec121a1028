"""The gateway on its own: its calls to the services answered by a stand-in
(nameko's replace_dependencies), its Redis real. What the gateway itself decides (auth,
limits, the cache, error mapping) is tested here without starting a single service."""

import uuid

import eventlet
import pytest
from nameko.testing.services import replace_dependencies

from gateway.drain import CLOSED
from gateway.http import GatewayWebServer
from gateway.service import GatewayService
from shop.errors import Forbidden, NotFound
from shop.tokens import Tokens
from tests.conftest import TEST_JWT_SECRET

TOKENS = Tokens(TEST_JWT_SECRET, "HS256", "nameko-shop", "nameko-shop-api", 3600)
NOW = "2026-11-22T10:00:00+00:00"


class StandInPosts:
    """The posts service as the gateway sees it: answers, and a record of the calls."""

    def __init__(self):
        self.calls = []
        self.posts = {}

    def add(self, author_id: str) -> dict:
        post = {"id": str(uuid.uuid4()), "title": "Hello", "body": "First words.",
                "author_id": author_id, "created_at": NOW, "updated_at": NOW}
        self.posts[post["id"]] = post
        return post

    def get_post(self, post_id):
        self.calls.append(("get_post", post_id))
        if post_id not in self.posts:
            raise NotFound(f"No post {post_id}.", {"post_id": post_id})
        return self.posts[post_id]

    def update_post(self, post_id, changes, actor):
        self.calls.append(("update_post", post_id, actor))
        post = self.get_post(post_id)
        if actor["id"] != post["author_id"]:
            raise Forbidden("Only the author may change this post.")
        post.update(changes)
        return post


class StandInServices:
    def __init__(self):
        self.posts = StandInPosts()


@pytest.fixture
def gateway(container_factory, config):
    def start(**overrides):
        container = container_factory(GatewayService, {**config, **overrides})
        services = StandInServices()
        replace_dependencies(container, rpc=services)
        container.start()
        return services
    return start


def bearer(user_id, role="user"):
    return {"Authorization": f"Bearer {TOKENS.issue(user_id, role)}"}


def test_a_read_is_served_from_the_cache_until_a_write_changes_it(gateway, web_session,
                                                                  redis_client):
    posts = gateway().posts
    post = posts.add("ada")
    first = web_session.get(f"/posts/{post['id']}")
    again = web_session.get(f"/posts/{post['id'].upper()}")  # the same entry
    assert (first.headers["X-Cache"], again.headers["X-Cache"]) == ("MISS", "HIT")
    assert again.json() == first.json() == post
    assert posts.calls == [("get_post", post["id"])]
    assert redis_client.exists(f"cache:post:{post['id']}")

    changed = web_session.patch(f"/posts/{post['id']}", json={"title": "Changed"},
                                headers=bearer("ada"))
    assert changed.status_code == 200
    fresh = web_session.get(f"/posts/{post['id']}")
    assert fresh.headers["X-Cache"] == "MISS" and fresh.json()["title"] == "Changed"


def test_a_service_refusal_keeps_its_status_and_details(gateway, web_session):
    posts = gateway().posts
    missing = str(uuid.uuid4())
    response = web_session.get(f"/posts/{missing}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert response.json()["details"] == {"post_id": missing}
    post = posts.add("ada")
    refused = web_session.patch(f"/posts/{post['id']}", json={"title": "Mine now"},
                                headers=bearer("bob"))
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    assert posts.posts[post["id"]]["title"] == "Hello"


def test_the_gateway_refuses_bad_credentials_without_calling_a_service(gateway, web_session):
    posts = gateway().posts
    post = posts.add("ada")
    for headers in ({}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic x"}):
        response = web_session.patch(f"/posts/{post['id']}", json={"title": "x"},
                                     headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert posts.calls == []


def test_the_limit_is_counted_in_redis_and_answered_429(gateway, web_session, redis_client):
    gateway(RATE_LIMIT_MAX=3, RATE_LIMIT_WINDOW_SECONDS=60)
    statuses = [web_session.get(f"/posts/{uuid.uuid4()}").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    assert any(key.startswith("rate:general:ip:") for key in redis_client.keys("rate:*"))


def web_server_of(container) -> GatewayWebServer:
    return next(extension for extension in container.subextensions
                if isinstance(extension, GatewayWebServer))


def test_a_gateway_told_to_stop_drains_first(container_factory, config, web_session):
    """For SHUTDOWN_DRAIN_SECONDS it still serves, /health fails readiness, and every
    answer closes its connection, so load balancers and kept-alive clients move on."""
    container = container_factory(GatewayService, {**config, "SHUTDOWN_DRAIN_SECONDS": 1})
    services = StandInServices()
    replace_dependencies(container, rpc=services)
    container.start()
    post = services.posts.add(str(uuid.uuid4()))
    serving = web_session.get(f"/posts/{post['id']}")
    assert serving.status_code == 200 and serving.headers.get("Connection") != "close"

    stopping = eventlet.spawn(container.stop)
    eventlet.sleep(0.2)
    health = web_session.get("/health")
    assert (health.status_code, health.json()) == (503, {"status": "draining"})
    read = web_session.get(f"/api/v1/posts/{post['id']}")
    assert read.status_code == 200 and read.json()["title"] == "Hello"
    assert read.headers["Connection"] == "close" and health.headers["Connection"] == "close"
    assert not stopping.dead  # the routes wait for the drain
    stopping.wait()


def test_after_the_drain_a_late_request_is_told_to_try_again(container_factory, config,
                                                            web_session):
    container = container_factory(GatewayService, config)
    services = StandInServices()
    replace_dependencies(container, rpc=services)
    container.start()
    post = services.posts.add(str(uuid.uuid4()))
    # What the drain leaves for a request on a kept-alive connection while routes stop:
    server = web_server_of(container)
    server.stop_keeping_alive()
    server.drain.state = CLOSED
    late = web_session.get(f"/posts/{post['id']}")
    assert late.status_code == 503 and late.json()["code"] == "SERVICE_UNAVAILABLE"
    assert late.headers["Retry-After"] == "1" and late.headers["Connection"] == "close"
    assert services.posts.calls == []  # no service was asked


def test_behind_a_trusted_tls_proxy_every_answer_carries_hsts(gateway, web_session):
    """A trusted proxy (TRUSTED_PROXIES) says X-Forwarded-Proto: https, on the full path
    and on a cache hit (answered from the environ) alike, with the correlation id echoed;
    the same header from a peer that is no trusted proxy is not believed."""
    services = gateway(TRUSTED_PROXIES="127.0.0.1")
    post = services.posts.add(str(uuid.uuid4()))
    over_tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
                "X-Correlation-ID": "trace-7"}
    first = web_session.get(f"/posts/{post['id']}", headers=over_tls)
    hit = web_session.get(f"/posts/{post['id']}", headers=over_tls)
    assert (first.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    for answer in (first, hit):
        assert answer.headers["Strict-Transport-Security"] == \
            "max-age=31536000; includeSubDomains"
        assert answer.headers["X-Correlation-ID"] == answer.headers["X-Request-ID"] == \
            "trace-7"
        assert answer.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    plain = web_session.get(f"/posts/{post['id']}", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_forwarded_headers_from_a_peer_that_is_no_trusted_proxy_are_ignored(
        gateway, web_session, caplog):
    """Proxies are trusted by address: this client (127.0.0.1) is not one, so what it
    forwards chooses neither its address nor its scheme, on either path."""
    services = gateway(TRUSTED_PROXIES="10.9.9.9, 192.0.2.0/24")
    post = services.posts.add(str(uuid.uuid4()))
    caplog.set_level("INFO", logger="gateway.access")
    spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.9, 10.9.9.9"}
    answers = [web_session.get(f"/posts/{post['id']}", headers=spoofed) for _ in range(2)]
    assert [answer.headers["X-Cache"] for answer in answers] == ["MISS", "HIT"]
    assert not any("Strict-Transport-Security" in answer.headers for answer in answers)
    lines = [record for record in caplog.records if record.name == "gateway.access"]
    assert [line.client for line in lines] == ["127.0.0.1", "127.0.0.1"]


def test_the_access_log_names_the_client_and_the_user(gateway, web_session, caplog):
    """The address a trusted proxy saw and the user the token named, on the full path
    and on a cache hit; an anonymous caller is logged by address alone."""
    services = gateway(TRUSTED_PROXIES="127.0.0.1")
    post = services.posts.add(str(uuid.uuid4()))
    caplog.set_level("INFO", logger="gateway.access")
    via_proxy = {**bearer("user-7"), "X-Forwarded-For": "203.0.113.7"}
    answers = [web_session.get(f"/posts/{post['id']}", headers=via_proxy) for _ in range(2)]
    assert [answer.headers["X-Cache"] for answer in answers] == ["MISS", "HIT"]
    assert web_session.get(f"/posts/{post['id']}").status_code == 200
    lines = [record for record in caplog.records if record.name == "gateway.access"]
    assert [(line.client, line.user_id) for line in lines] == [
        ("203.0.113.7", "user-7"), ("203.0.113.7", "user-7"), ("127.0.0.1", None)]
    assert lines[0].getMessage().endswith("client=203.0.113.7 user=user-7")
