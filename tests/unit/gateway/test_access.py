"""What every answer carries: the request id the client sent (under either name) and the
headers that depend on how the request came."""

from gateway.access import accepted_request_id, request_id_headers


def test_the_clients_request_id_is_kept_and_x_request_id_wins():
    assert accepted_request_id("abc-123") == "abc-123"
    assert accepted_request_id(None, "corr-9") == "corr-9"
    assert accepted_request_id("abc-123", "corr-9") == "abc-123"


def test_an_unsafe_or_missing_id_is_replaced_by_a_new_one():
    for offered in [("bad id with spaces", None), (None, "x" * 129), (None, None), ("", "")]:
        fresh = accepted_request_id(*offered)
        assert len(fresh) == 32 and fresh not in offered
    assert accepted_request_id(None, None) != accepted_request_id(None, None)


def test_the_id_is_echoed_in_the_header_the_client_used_too():
    assert request_id_headers("r1", False) == [("X-Request-ID", "r1")]
    assert request_id_headers("r1", True) == [("X-Request-ID", "r1"), ("X-Correlation-ID", "r1")]

