"""GET /posts/{id} and /users/{id} come from Redis when they can, and are never stale."""

import time

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import get_container

from gateway.cache import ResponseCache, listing_entry
from posts.service import PostsService
from tests.outbox import events_delivered


@pytest.fixture
def author(api):
    return api.user_with_token("ada")


def test_the_second_read_is_a_hit_with_the_same_etag(api, author):
    post = api.post(author[1])
    first = api.http.get(f"/posts/{post['id']}")
    second = api.http.get(f"/posts/{post['id']}")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.json() == second.json() == post
    assert first.headers["ETag"] == second.headers["ETag"]
    assert second.headers["Cache-Control"] == "no-cache"


def test_if_none_match_answers_304_without_a_body(api, author):
    post = api.post(author[1])
    etag = api.http.get(f"/posts/{post['id']}").headers["ETag"]
    response = api.http.get(f"/posts/{post['id']}", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.content == b""
    assert response.headers["ETag"] == etag
    other = api.http.get(f"/posts/{post['id']}", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


VARYING = {"x-cache", "ratelimit-remaining", "x-request-id", "date"}


def comparable(response) -> dict:
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower() not in VARYING}


@pytest.mark.parametrize("extra", [
    {"Origin": "http://localhost:3000", "X-Request-ID": "trace-1"},
    {"Origin": "http://evil.example"},
    {"Authorization": "Bearer not-a-token"},  # posts may be read with any header
])
def test_a_hit_carries_the_headers_of_a_miss(api, author, redis_client, extra):
    """Hits are answered from the raw request, misses by the full stack: same headers."""
    post = api.post(author[1])
    miss = api.http.get(f"/posts/{post['id']}", headers=extra)
    hit = api.http.get(f"/posts/{post['id']}", headers=extra)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert comparable(hit) == comparable(miss) and hit.content == miss.content
    if "X-Request-ID" in extra:
        assert hit.headers["X-Request-ID"] == miss.headers["X-Request-ID"] == "trace-1"
    assert int(hit.headers["RateLimit-Remaining"]) == int(miss.headers["RateLimit-Remaining"]) - 1
    unchanged = {**extra, "If-None-Match": hit.headers["ETag"]}
    redis_client.delete(f"cache:post:{post['id']}")
    miss = api.http.get(f"/posts/{post['id']}", headers=unchanged)
    hit = api.http.get(f"/posts/{post['id']}", headers=unchanged)
    assert (miss.status_code, hit.status_code) == (304, 304)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert comparable(hit) == comparable(miss) and hit.content == miss.content == b""


@pytest.mark.parametrize("extra", [
    {"Origin": "http://localhost:3000", "X-Request-ID": "trace-2"},
    {"Authorization": "Bearer not-a-token"},
])
def test_a_listing_hit_carries_the_headers_of_a_miss(shop, extra):
    api = shop[0]
    query = "/products?category=home&sort=price&in_stock=true"
    miss = api.http.get(query, headers=extra)
    hit = api.http.get(query, headers=extra)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert comparable(hit) == comparable(miss) and hit.content == miss.content
    assert [product["name"] for product in hit.json()["items"]] == ["Desk lamp"]
    revalidated = api.http.get(query, headers={**extra, "If-None-Match": hit.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.headers["X-Cache"] == "HIT"


def test_a_listing_is_one_entry_whatever_the_order_of_its_parameters(shop):
    api = shop[0]
    first = api.http.get("/products?sort=price&category=home")
    other_order = api.http.get("/products?category=home&sort=price")
    other_query = api.http.get("/products?category=home&sort=-price")
    assert (first.headers["X-Cache"], other_order.headers["X-Cache"]) == ("MISS", "HIT")
    assert other_order.content == first.content
    assert other_query.headers["X-Cache"] == "MISS"
    assert other_query.json()["items"] == first.json()["items"][::-1]


def test_a_flood_of_repeated_parameters_stores_one_entry(shop, redis_client):
    """page=1&page=<n> is page 1 to the route: one entry, however many n (it was one each)."""
    api = shop[0]
    answers = [api.http.get(f"/products?limit=100&page=1&page={n}") for n in range(2, 40)]
    assert [answer.headers["X-Cache"] for answer in answers] == ["MISS"] + ["HIT"] * 37
    assert len(list(redis_client.scan_iter("cache-list:product:*"))) == 1
    refused = api.http.get("/products?page=1&utm_source=ad")
    assert refused.status_code == 400 and "X-Cache" not in refused.headers
    assert len(list(redis_client.scan_iter("cache-list:product:*"))) == 1


def test_a_product_change_drops_the_cached_listings_at_once(shop):
    api, admin, products = shop
    query = "/products?category=home&sort=price"
    assert api.http.get(query).status_code == 200
    assert api.http.get(query).headers["X-Cache"] == "HIT"
    lamp = products["Desk lamp"]
    assert api.http.patch(f"/products/{lamp['id']}", headers=admin,
                          json={"price": "35.00"}).status_code == 200
    changed = api.http.get(query)
    assert changed.headers["X-Cache"] == "MISS"
    assert {p["name"]: p["price"] for p in changed.json()["items"]}["Desk lamp"] == "35.00"


ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def buy(api, product: dict, quantity: int) -> None:
    _, buyer = api.user_with_token(f"buyer{quantity}")
    response = api.http.post("/orders", headers=buyer, json={
        "items": [{"product_id": product["id"], "quantity": quantity}],
        "shipping_address": ADDRESS})
    assert response.status_code == 201, response.text
    events_delivered(api.config, "products")


def test_a_sale_drops_only_the_listings_that_show_the_product(shop):
    api, _, products = shop
    home, kitchen = "/products?category=home&sort=price", "/products?category=kitchen"
    for query in (home, kitchen):
        api.http.get(query)
        assert api.http.get(query).headers["X-Cache"] == "HIT"
    buy(api, products["Desk lamp"], 1)
    after_sale = api.http.get(home)
    assert after_sale.headers["X-Cache"] == "MISS"
    assert {p["name"]: p["stock"] for p in after_sale.json()["items"]}["Desk lamp"] == 9
    assert api.http.get(kitchen).headers["X-Cache"] == "HIT"  # no lamp there
    assert api.http.get(f"/products/{products['Desk lamp']['id']}").json()["stock"] == 9


def test_a_product_selling_out_leaves_or_joins_the_listings_filtered_by_stock(shop):
    api, _, products = shop
    sold_out, in_stock = "/products?in_stock=false", "/products?in_stock=true&sort=name"
    assert [p["name"] for p in api.http.get(sold_out).json()["items"]] == ["Floor lamp"]
    assert [p["name"] for p in api.http.get(in_stock).json()["items"]] == ["Desk lamp", "Mug"]
    buy(api, products["Mug"], 3)  # the last three: a listing that did not show it must now
    assert [p["name"] for p in api.http.get(sold_out).json()["items"]] == ["Floor lamp", "Mug"]
    assert [p["name"] for p in api.http.get(in_stock).json()["items"]] == ["Desk lamp"]


def test_a_listing_fill_that_raced_a_sale_of_a_product_it_shows_is_refused(redis_client):
    cache = ResponseCache(redis_client, ttl_seconds=60)
    showing, other = listing_entry("product", "sort=price"), listing_entry("product", "q=mug")
    assert showing is not None and other is not None
    body, looked = cache.lookup_listing(showing)
    assert body is None
    _, other_looked = cache.lookup_listing(other)
    cache.invalidate_listings_showing("product", "lamp")  # sold while the reader fetched
    assert not cache.fill_listing(showing, '{"items": ["old lamp"]}', looked, ["lamp", "mug"])
    assert cache.lookup_listing(showing)[0] is None
    assert cache.fill_listing(other, '{"items": ["mug"]}', other_looked, ["mug"])
    _, looked = cache.lookup_listing(showing)
    assert cache.fill_listing(showing, '{"items": ["new lamp"]}', looked, ["lamp", "mug"])
    assert cache.invalidate_listings_showing("product", "mug") == 2  # both show the mug
    assert cache.lookup_listing(showing)[0] is None and cache.lookup_listing(other)[0] is None


def test_a_cache_hit_makes_no_rpc(system, api, author):
    cached, uncached = api.post(author[1], "cached"), api.post(author[1], "uncached")
    api.http.get(f"/posts/{cached['id']}")
    get_container(system, PostsService).stop()  # nothing answers posts RPCs any more
    started = time.monotonic()
    hit = api.http.get(f"/posts/{cached['id']}")
    assert hit.status_code == 200 and hit.headers["X-Cache"] == "HIT"
    assert time.monotonic() - started < 0.5
    assert api.http.get(f"/posts/{uncached['id']}").status_code == 504


def test_an_update_over_http_is_seen_by_the_next_read(api, author):
    post = api.post(author[1])
    path = f"/posts/{post['id']}"
    old_etag = api.http.get(path).headers["ETag"]
    api.http.patch(path, json={"title": "Edited"}, headers=author[1])
    fresh = api.http.get(path, headers={"If-None-Match": old_etag})
    assert fresh.status_code == 200 and fresh.json()["title"] == "Edited"


def test_a_deleted_post_is_404_at_once(api, author):
    post = api.post(author[1])
    path = f"/posts/{post['id']}"
    api.http.get(path)
    api.http.delete(path, headers=author[1])
    response = api.http.get(path)
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def read_until(api, path, accept, attempts=50):
    """Reads path until accept(response); events cross the broker in milliseconds."""
    for _ in range(attempts):
        response = api.http.get(path)
        if accept(response):
            return response
        time.sleep(0.01)
    return response


def test_changes_made_over_rpc_reach_the_http_cache(api, author, config):
    user, auth = author
    post = api.post(auth)
    path = f"/posts/{post['id']}"
    api.http.get(path)
    with ClusterRpcProxy(config) as n:
        n.posts.update_post(post["id"], {"title": "From the shell"}, actor={"role": "admin"})
        response = read_until(api, path, lambda r: r.json()["title"] == "From the shell")
        assert response.json()["title"] == "From the shell"
        n.posts.delete_post(post["id"], actor={"role": "admin"})
        assert read_until(api, path, lambda r: r.status_code == 404).status_code == 404


def test_user_profiles_are_cached_without_their_email(api, author, config):
    user, auth = author
    path = f"/users/{user['id']}"
    api.http.get(path)
    public = api.http.get(path)
    assert public.headers["X-Cache"] == "HIT" and "email" not in public.json()
    own = api.http.get(path, headers=auth)
    assert own.headers["X-Cache"] == "MISS" and own.json()["email"] == user["email"]
    assert own.headers["Cache-Control"] == "no-store"
    assert "email" not in api.http.get(path).json()  # the owner's view was not shared
    with ClusterRpcProxy(config) as n:
        n.users.update_user(user["id"], {"name": "Ada L"}, actor={"role": "admin"})
    assert read_until(api, path, lambda r: r.json()["name"] == "Ada L").json()["name"] == "Ada L"


def test_a_fill_that_raced_an_invalidation_is_refused(redis_client):
    cache = ResponseCache(redis_client, ttl_seconds=60)
    body, generation = cache.lookup("post", "p1")
    assert body is None
    cache.invalidate("post", "p1")  # a write lands while the reader was fetching
    cache.fill("post", "p1", '{"title": "old"}', generation)
    assert cache.lookup("post", "p1")[0] is None
    _, generation = cache.lookup("post", "p1")
    cache.fill("post", "p1", '{"title": "new"}', generation)
    assert cache.lookup("post", "p1")[0] == '{"title": "new"}'


def test_with_the_cache_off_every_read_goes_to_the_service(start_system):
    api = start_system(CACHE_ENABLED=False)[1]
    _, auth = api.user_with_token()
    post = api.post(auth)
    for path in (f"/posts/{post['id']}", "/products"):
        assert [api.http.get(path).headers["X-Cache"] for _ in range(2)] == ["MISS", "MISS"]
