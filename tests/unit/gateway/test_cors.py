"""Which browser origins may call the API, and what a preflight is told."""

import pytest
from nameko.exceptions import ConfigurationError

from gateway.cors import ALLOWED_HEADERS, CorsPolicy


def test_no_origin_is_allowed_unless_configured():
    policy = CorsPolicy.of((), False)
    assert not policy.allows("https://shop.example")
    assert policy.response_headers("https://shop.example") == {}


def test_listed_origins_are_compared_without_trailing_slashes():
    policy = CorsPolicy.of(("https://a.example/", " https://b.example"), False)
    assert policy.allows("https://a.example") and policy.allows("https://b.example")
    assert not policy.allows("https://c.example") and not policy.allows(None)
    headers = policy.response_headers("https://b.example")
    assert headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Access-Control-Allow-Credentials" not in headers
    assert "X-Request-ID" in headers["Access-Control-Expose-Headers"]


def test_any_origin_is_answered_with_a_star():
    policy = CorsPolicy.of(("*",), False)
    assert policy.response_headers("https://any.example")["Access-Control-Allow-Origin"] == "*"


def test_credentials_are_allowed_only_for_listed_origins():
    with pytest.raises(ConfigurationError, match="credentials"):
        CorsPolicy.of(("*",), True)
    policy = CorsPolicy.of(("https://a.example",), True)
    assert policy.response_headers("https://a.example")[
        "Access-Control-Allow-Credentials"] == "true"


def test_a_preflight_for_an_allowed_method_names_the_methods_and_headers():
    policy = CorsPolicy.of(("https://a.example",), False)
    headers = policy.preflight_headers("https://a.example", "patch", ["GET", "PATCH"])
    assert headers["Access-Control-Allow-Methods"] == "GET, PATCH"
    assert headers["Access-Control-Allow-Headers"] == ALLOWED_HEADERS
    assert int(headers["Access-Control-Max-Age"]) > 0


def test_a_preflight_for_another_method_or_origin_is_refused():
    policy = CorsPolicy.of(("https://a.example",), False)
    assert policy.preflight_headers("https://a.example", "DELETE", ["GET"]) == {}
    assert policy.preflight_headers("https://evil.example", "GET", ["GET"]) == {}
