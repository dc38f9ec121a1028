"""Forwarded headers believed by the address they came from (TRUSTED_PROXIES)."""

import pytest
from nameko.exceptions import ConfigurationError

from gateway.proxies import TrustedProxies

PROXIES = TrustedProxies.parse(["10.0.0.0/8", "192.0.2.1", "::1"])


def test_a_peer_that_is_no_trusted_proxy_is_the_client_whatever_it_forwards():
    assert PROXIES.client_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert TrustedProxies().client_address("10.0.0.5", "198.51.100.1") == "10.0.0.5"


def test_the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy():
    # The client wrote the first two hops itself; the trusted proxy appended its peer.
    spoofed = "1.2.3.4, 5.6.7.8, 198.51.100.7"
    assert PROXIES.client_address("10.0.0.5", spoofed) == "198.51.100.7"
    # Two trusted proxies in a row are walked past.
    assert PROXIES.client_address("10.0.0.5", "198.51.100.7, 192.0.2.1") == "198.51.100.7"
    # Every hop trusted: the leftmost is the nearest thing to a client there is.
    assert PROXIES.client_address("10.0.0.5", "10.1.1.1, 10.2.2.2") == "10.1.1.1"


def test_a_hop_that_is_not_an_address_never_becomes_a_rate_limit_key():
    assert PROXIES.client_address("10.0.0.5", "victim, not-an-ip") == "unknown"


def test_an_ipv4_peer_seen_as_ipv6_is_still_recognised():
    assert PROXIES.trusts("::ffff:10.0.0.5")
    assert PROXIES.trusts("::1") and not PROXIES.trusts("::2")


def test_a_bad_entry_stops_the_gateway_at_start_naming_it():
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES: 'nonsense'"):
        TrustedProxies.parse(["10.0.0.0/8", "nonsense"])


def test_tls_is_believed_only_from_a_trusted_proxy_or_our_own_scheme():
    assert PROXIES.came_over_tls("https", "203.0.113.9", None)
    assert not PROXIES.came_over_tls("http", "203.0.113.9", "https")  # anyone can say it
    assert PROXIES.came_over_tls("http", "10.0.0.5", "https")
    # The nearest proxy's word is the rightmost; what is left of it the client may write.
    assert not PROXIES.came_over_tls("http", "10.0.0.5", "https, http")
    assert PROXIES.came_over_tls("http", "10.0.0.5", "http, HTTPS")
    assert not PROXIES.came_over_tls("http", "10.0.0.5", None)
