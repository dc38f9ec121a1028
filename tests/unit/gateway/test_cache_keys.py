"""How the cache names what it keeps: ids as the services write them, listings by their
parsed query, bodies by their ETag."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.cache import (
    canonical_id,
    entry_key,
    etag_of,
    listing_entry,
    respond_with_etag,
    stays_in_the_same_listings,
)

ID = "0b5ea7e6-2a6d-4c41-9d5b-8f6f3b0f6c1e"


def test_an_id_in_any_spelling_names_the_entry_the_service_event_invalidates():
    assert canonical_id(ID) == ID
    assert canonical_id(ID.upper()) == ID
    assert canonical_id("{" + ID + "}") == ID
    assert canonical_id(ID.replace("-", "")) == ID
    assert entry_key("post", canonical_id(ID.upper()) or "") == f"cache:post:{ID}"


def test_what_is_not_an_id_names_no_entry():
    assert canonical_id("me") is None
    assert canonical_id("") is None
    assert canonical_id(ID + "0") is None


def test_a_listing_is_named_by_its_parameters_not_their_order_or_spelling():
    same = listing_entry("product", "category=home&sort=price")
    assert listing_entry("product", "sort=price&category=home") == same
    assert listing_entry("product", "sort=price&category=%68ome") == same
    assert listing_entry("product", "category=home&sort=-price") != same
    assert listing_entry("product", "") != same


def test_a_repeated_or_respelled_parameter_names_the_entry_the_route_reads():
    """The route passes on the first value of each parameter: a flood of page=1&page=<n>
    made a new entry per n (1,500 requests added 21.5 MB to Redis)."""
    first = listing_entry("product", "limit=100&page=1")
    for n in range(2, 50):
        assert listing_entry("product", f"limit=100&page=1&page={n}") == first
    assert listing_entry("product", "limit=0100&page=001") == first
    assert listing_entry("product", "min_price=5") == listing_entry("product", "min_price=5.00")
    assert listing_entry("product", "category=HOME") == listing_entry("product", "category=home")


def test_only_spellings_the_service_accepts_are_rewritten():
    """An invalid value must not name a valid one's entry, or a hit would answer it."""
    valid = listing_entry("product", "sort=price&min_price=5&page=7")
    for invalid in ("sort=PRICE&min_price=5&page=7", "sort=price&min_price=5e0&page=7",
                    "sort=price&min_price=05&page=7", "sort=price&min_price=5&page=7.5",
                    "sort=price&min_price=5&page=" + "0" * 30 + "7"):
        assert listing_entry("product", invalid) != valid


def test_a_parameter_the_listing_does_not_know_is_never_cached():
    assert listing_entry("product", "page=1&utm_source=x") is None


def test_a_listing_lives_in_its_kinds_current_namespace():
    entry = listing_entry("product", "page=2")
    assert entry is not None
    assert entry.namespace_key == "cache-ns:product"
    assert entry.key("7") == f"cache-list:product:7:{entry.query}"
    assert entry.key("7") != entry.key("8")


def test_the_etag_follows_the_body_and_a_matching_client_gets_304():
    body = '{"id": 1}'
    assert etag_of(body) == etag_of(body) != etag_of('{"id": 2}')
    fresh = respond_with_etag(Request(EnvironBuilder().get_environ()), body, "MISS")
    assert fresh.status_code == 200 and fresh.get_data(as_text=True) == body
    assert fresh.headers["X-Cache"] == "MISS" and fresh.headers["ETag"] == etag_of(body)
    revalidating = Request(EnvironBuilder(headers=[("If-None-Match", etag_of(body))])
                           .get_environ())
    unchanged = respond_with_etag(revalidating, body, "HIT")
    assert unchanged.status_code == 304 and unchanged.get_data() == b""


@pytest.mark.parametrize(("event", "stays"), [
    ({"id": "p", "changed": ["stock"], "stock": 9, "stock_before": 10}, True),
    ({"id": "p", "changed": ["stock"], "stock": 0, "stock_before": 0}, True),
    ({"id": "p", "changed": ["stock"], "stock": 0, "stock_before": 3}, False),  # sold out
    ({"id": "p", "changed": ["stock"], "stock": 5, "stock_before": 0}, False),  # restocked
    ({"id": "p", "changed": ["stock"], "stock": 9}, False),  # written before stock_before
    ({"id": "p", "changed": ["price"]}, False),
    ({"id": "p", "changed": ["name", "stock"], "stock": 9, "stock_before": 10}, False),
])
def test_only_a_sale_that_keeps_a_product_in_or_out_of_stock_spares_other_listings(event, stays):
    assert stays_in_the_same_listings(event) is stays
