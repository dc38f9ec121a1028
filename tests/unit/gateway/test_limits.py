"""The rate limiter's arithmetic and whom it counts a request against (no Redis here)."""

import pytest
from nameko.exceptions import ConfigurationError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.limits import Limit, RateLimiter, Verdict
from gateway.proxies import TrustedProxies
from gateway.raw import RawRequest
from gateway.settings import GatewaySettings
from shop.config import load_config
from shop.tokens import Tokens
from tests.conftest import TEST_JWT_SECRET

TOKENS = Tokens(TEST_JWT_SECRET, "HS256", "nameko-shop", "nameko-shop-api", 3600)


def request(path="/posts", method="GET", headers=None, remote="10.0.0.9"):
    environ = EnvironBuilder(path=path, method=method, headers=headers or {},
                             environ_base={"REMOTE_ADDR": remote}).get_environ()
    return Request(environ)


def limiter(*trusted):
    return RateLimiter(Limit("general", 3, 10), Limit("sign-in", 1, 60),
                       TrustedProxies.parse(trusted), frozenset({"/signin"}))


@pytest.mark.parametrize("maximum, window", [(0, 10), (5, 0), (-1, 1)])
def test_a_limit_must_allow_something_in_some_time(maximum, window):
    with pytest.raises(ConfigurationError, match="general"):
        Limit("general", maximum, window)


def test_a_verdict_counts_down_and_says_when_to_retry_once_over():
    limit = Limit("general", 2, 10)
    within = Verdict(limit, 2, 7)
    assert within.allowed and within.remaining == 0
    assert within.headers() == {"RateLimit-Limit": "2", "RateLimit-Remaining": "0",
                                "RateLimit-Reset": "7"}
    over = Verdict(limit, 3, 7)
    assert not over.allowed and over.remaining == 0
    assert over.headers()["Retry-After"] == "7"


def test_the_limits_are_the_gateways_settings():
    settings = GatewaySettings.from_config({
        **load_config("config.yml"), "RATE_LIMIT_MAX": "50", "RATE_LIMIT_WINDOW_SECONDS": "5",
        "TRUSTED_PROXIES": "10.0.0.0/8"})
    configured = RateLimiter.from_settings(
        settings, frozenset(), TrustedProxies.parse(settings.trusted_proxies))
    assert (configured.general.maximum, configured.general.window_seconds) == (50, 5.0)
    assert (configured.sign_in.maximum, configured.sign_in.window_seconds) == (10, 60.0)
    assert configured.trusted_proxies.trusts("10.1.2.3")


def test_the_client_is_the_remote_address_unless_it_is_a_trusted_proxy():
    forwarded = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
    assert limiter().client_ip(request(headers=forwarded)) == "10.0.0.9"
    assert limiter("10.0.0.10").client_ip(request(headers=forwarded)) == "10.0.0.9"
    # The peer (10.0.0.9) is trusted: the rightmost untrusted hop is the client.
    assert limiter("10.0.0.9").client_ip(request(headers=forwarded)) == "198.51.100.2"
    assert limiter("10.0.0.0/24", "198.51.100.2").client_ip(
        request(headers=forwarded)) == "203.0.113.7"


def test_a_signed_in_client_is_counted_as_its_user_anyone_else_by_address():
    token = TOKENS.issue("user-1", "user")
    signed_in = request(headers={"Authorization": f"Bearer {token}"})
    assert limiter().client_key(signed_in, TOKENS) == "user:user-1"
    assert limiter().client_key(request(), TOKENS) == "ip:10.0.0.9"
    # A bad token is the route's to refuse (401); the limiter counts the address.
    forged = request(headers={"Authorization": "Bearer not-a-token"})
    assert limiter().client_key(forged, TOKENS) == "ip:10.0.0.9"


def test_a_raw_environ_request_is_keyed_like_a_werkzeug_one():
    token = TOKENS.issue("user-2", "admin")
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "192.0.2.1"}
    werkzeug_request = request(headers=headers)
    raw = RawRequest(werkzeug_request.environ)
    behind_proxy = limiter("10.0.0.9")
    assert behind_proxy.client_key(raw, TOKENS) == behind_proxy.client_key(werkzeug_request,
                                                                           TOKENS)
    assert behind_proxy.client_ip(raw) == "192.0.2.1"
