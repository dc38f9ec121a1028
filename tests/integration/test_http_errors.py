"""Bad requests get a JSON error with the right status, code and request id: never a 500."""

import time

import jwt
import pytest

from tests.conftest import TEST_JWT_SECRET

NEW_USER = {"name": "ada", "email": "ada@example.com", "password": "correct horse"}


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and body["error"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_malformed_json_is_400(api):
    response = api.http.post("/users", data='{"name": "ada"',
                             headers={"Content-Type": "application/json"})
    assert_error(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("body", ['[1, 2]', '"ada"', "null", "[" * 50_000])
def test_a_body_that_is_not_an_object_is_400(api, body):
    response = api.http.post("/users", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] in ("VALIDATION_ERROR", "MALFORMED_JSON")


def test_validation_errors_name_each_field(api):
    response = api.http.post("/users", json={"name": "", "email": "nope", "password": "short"})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert set(body["details"]) == {"name", "email", "password"}


def test_unknown_fields_are_refused(api):
    response = api.http.post("/users", json={**NEW_USER, "role": "admin"})
    assert "role" in assert_error(response, 400, "VALIDATION_ERROR")["details"]


def test_non_json_body_is_415(api):
    response = api.http.post("/users", data="name=ada",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_over_the_limit_is_413(api, config):
    padding = "x" * config["MAX_BODY_BYTES"]
    response = api.http.post("/users", json={**NEW_USER, "name": padding})
    assert_error(response, 413, "REQUEST_ENTITY_TOO_LARGE")


def test_chunked_body_over_the_limit_is_413(api, config):
    def chunks():
        for _ in range(config["MAX_BODY_BYTES"] // 1024 + 2):
            yield b" " * 1024
    response = api.http.post("/users", data=chunks(),
                             headers={"Content-Type": "application/json"})
    assert_error(response, 413, "REQUEST_ENTITY_TOO_LARGE")


def test_unknown_route_is_a_json_404(api):
    assert_error(api.http.get("/no/such/route"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow(api):
    response = api.http.put("/users")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def forge(**claims):
    now = int(time.time())
    base = {"sub": "5b9b0f52-4b1c-4a59-9a5e-0a8e54d7a0c1", "role": "admin", "iat": now,
            "exp": now + 60, "iss": "nameko-shop", "aud": "nameko-shop-api"}
    return {**base, **claims}


@pytest.mark.parametrize("authorization", [
    "Bearer " + jwt.encode(forge(), "", algorithm="none"),
    "Bearer " + jwt.encode(forge(), "a guessed secret that is long enough 0123", "HS256"),
    "Bearer " + jwt.encode(forge(exp=int(time.time()) - 5), TEST_JWT_SECRET, "HS256"),
    "Bearer " + jwt.encode(forge(aud="another-api"), TEST_JWT_SECRET, "HS256"),
    "Bearer not.a.token",
    "Basic YWRhOnBhc3N3b3Jk",
    "Bearer ",
])
def test_bad_tokens_are_401(api, authorization):
    assert_error(api.http.get("/users/me", headers={"Authorization": authorization}),
                 401, "UNAUTHORIZED")


def test_a_bad_token_on_a_public_route_is_still_401(api):
    ada = api.sign_up()
    response = api.http.get(f"/users/{ada['id']}", headers={"Authorization": "Bearer junk"})
    assert_error(response, 401, "UNAUTHORIZED")


def test_a_sane_request_id_is_kept_and_an_insane_one_replaced(api):
    kept = api.http.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert kept.headers["X-Request-ID"] == "trace-42.a:b"
    given = set()
    for insane in ("x" * 129, "has space", "<script>"):
        replaced = api.http.get("/health", headers={"X-Request-ID": insane})
        assert replaced.headers["X-Request-ID"] != insane
        assert len(replaced.headers["X-Request-ID"]) == 32
        given.add(replaced.headers["X-Request-ID"])
    assert len(given) == 3  # a new id each time


def test_error_bodies_carry_the_callers_request_id(api):
    response = api.http.get("/users/me", headers={"X-Request-ID": "abc-123"})
    assert assert_error(response, 401, "UNAUTHORIZED")["request_id"] == "abc-123"


HELMET_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin",
                  "Cross-Origin-Resource-Policy": "same-origin", "Origin-Agent-Cluster": "?1",
                  "X-DNS-Prefetch-Control": "off", "X-Permitted-Cross-Domain-Policies": "none",
                  "X-XSS-Protection": "0", "X-Content-Type-Options": "nosniff",
                  "Referrer-Policy": "no-referrer"}


def test_responses_carry_security_headers(api):
    response = api.http.get("/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    for path in ("/health", "/users/me", "/no-such-route", "/docs"):
        headers = api.http.get(path).headers
        assert {name: headers.get(name) for name in HELMET_HEADERS} == HELMET_HEADERS, path
    # Plain HTTP, and no trusted proxy (TRUSTED_PROXIES) to say otherwise: no HSTS.
    spoofed = api.http.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_a_correlation_id_is_taken_as_the_request_id_and_echoed_under_its_name(api):
    response = api.http.get("/users/me", headers={"X-Correlation-ID": "corr-42"})
    assert assert_error(response, 401, "UNAUTHORIZED")["request_id"] == "corr-42"
    assert response.headers["X-Correlation-ID"] == "corr-42"
    assert response.headers["X-Request-ID"] == "corr-42"
    both = api.http.get("/health", headers={"X-Correlation-ID": "c-1", "X-Request-ID": "r-1"})
    assert both.headers["X-Request-ID"] == both.headers["X-Correlation-ID"] == "r-1"
    plain = api.http.get("/health", headers={"X-Request-ID": "r-2"})
    assert "X-Correlation-ID" not in plain.headers
