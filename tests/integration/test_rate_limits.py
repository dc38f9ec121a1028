"""Rate limits: headers on every limited response, 429 past the limit, and a reset."""

import time

import pytest


@pytest.fixture
def tight(start_system):
    """A gateway allowing 3 requests per 2 s per client, and 2 sign-ins per minute per IP."""
    return start_system(RATE_LIMIT_MAX=3, RATE_LIMIT_WINDOW_SECONDS=2,
                        SIGNIN_RATE_LIMIT_MAX=2)[1]


def test_headers_count_down_then_429_with_retry_after(tight):
    remaining = []
    for _ in range(3):
        response = tight.http.get("/posts")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 2
        remaining.append(response.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    limited = tight.http.get("/posts")
    assert limited.status_code == 429
    assert limited.json()["code"] == "RATE_LIMITED"
    assert limited.json()["request_id"] == limited.headers["X-Request-ID"]
    assert 0 < int(limited.headers["Retry-After"]) <= 2


def test_the_window_resets(tight):
    for _ in range(4):
        tight.http.get("/posts")
    assert tight.http.get("/posts").status_code == 429
    time.sleep(2.1)
    response = tight.http.get("/posts")
    assert response.status_code == 200 and response.headers["RateLimit-Remaining"] == "2"


def test_a_signed_in_user_has_a_window_of_their_own(start_system):
    api = start_system(RATE_LIMIT_MAX=5, RATE_LIMIT_WINDOW_SECONDS=30)[1]
    _, auth = api.user_with_token()  # two requests from this address
    for _ in range(3):
        assert api.http.get("/posts").status_code == 200
    assert api.http.get("/posts").status_code == 429  # the address is spent
    response = api.http.get("/users/me", headers=auth)
    assert response.status_code == 200 and response.headers["RateLimit-Remaining"] == "4"


def test_sign_in_has_a_stricter_limit_per_address(start_system):
    api = start_system(RATE_LIMIT_MAX=10, SIGNIN_RATE_LIMIT_MAX=2)[1]
    body = {"email": "nobody@example.com", "password": "guessing"}
    assert api.http.post("/signin", json=body).status_code == 401
    assert api.http.post("/api/v1/signin", json=body).status_code == 401
    response = api.http.post("/signin", json=body)
    assert response.status_code == 429 and response.headers["RateLimit-Limit"] == "2"
    signup = api.http.post("/users", json={"name": "x", "email": "x@example.com",
                                           "password": "correct horse"})
    assert signup.status_code == 429  # sign-up shares the stricter window
    assert api.http.get("/posts").status_code == 200  # other routes still have room


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(start_system):
    api = start_system(RATE_LIMIT_MAX=2, RATE_LIMIT_WINDOW_SECONDS=30)[1]
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        api.http.get("/posts", headers={"X-Forwarded-For": client})
    # Not trusted: all three came from one address, whatever they claimed.
    assert api.http.get("/posts", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 429


def test_a_trusted_proxy_gives_each_forwarded_client_its_window(start_system):
    api = start_system(RATE_LIMIT_MAX=2, RATE_LIMIT_WINDOW_SECONDS=30,
                       TRUSTED_PROXIES="127.0.0.0/8")[1]
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        for _ in range(2):
            response = api.http.get("/posts", headers={"X-Forwarded-For": client})
            assert response.status_code == 200
    spoofed = {"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}  # the client lies about hop 1
    assert api.http.get("/posts", headers=spoofed).status_code == 429


def test_health_is_not_limited(tight):
    for _ in range(6):
        response = tight.http.get("/health")
        assert response.status_code == 200 and "RateLimit-Limit" not in response.headers
