"""CORS: allowed origins get preflights and headers; others get none, never an error."""

import pytest
from nameko.exceptions import ConfigurationError

from gateway.service import GatewayService

ALLOWED = "http://localhost:3000"


def preflight(api, path, origin, method="POST"):
    return api.http.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


@pytest.mark.parametrize("path", ["/posts", "/api/v1/users/me", "/signin",
                                  "/posts/5b9b0f52-4b1c-4a59-9a5e-0a8e54d7a0c1/comments"])
def test_preflight_from_an_allowed_origin(api, path):
    method = "GET" if path.endswith("/me") else "POST"
    response = preflight(api, path, ALLOWED, method)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "Origin" in response.headers["Vary"]


def test_preflight_from_another_origin_gets_no_cors_headers(api):
    response = preflight(api, "/posts", "https://evil.example")
    assert response.status_code == 204
    assert not any(name.startswith("Access-Control") for name in response.headers)


def test_preflight_for_a_method_the_route_lacks_gets_no_allow_origin(api):
    response = preflight(api, "/health", ALLOWED, method="DELETE")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_for_an_unknown_route_is_a_json_404(api):
    response = preflight(api, "/nowhere", ALLOWED)
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_actual_responses_carry_cors_headers_only_for_allowed_origins(api):
    allowed = api.http.get("/posts", headers={"Origin": ALLOWED})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    refused = api.http.get("/posts", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_a_wildcard_serves_any_origin(start_system):
    api = start_system(CORS_ORIGINS="*")[1]
    response = api.http.get("/posts", headers={"Origin": "https://anyone.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_wildcard_with_credentials_is_refused_at_start_up(container_factory, config):
    gateway = container_factory(GatewayService, {**config, "CORS_ORIGINS": ["*"],
                                                 "CORS_ALLOW_CREDENTIALS": True})
    with pytest.raises(ConfigurationError, match="CORS_ORIGINS"):
        gateway.start()


def test_authenticated_responses_are_never_stored(api):
    _, auth = api.user_with_token()
    assert api.http.get("/posts", headers=auth).headers["Cache-Control"] == "no-store"
