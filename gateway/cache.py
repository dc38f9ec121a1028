"""A Redis cache of public single-resource responses, kept fresh by invalidation.

Every entry has a generation counter beside it. Invalidating bumps the counter and drops
the entry in one step; a reader that fetched the resource before that may store its copy
only if the counter has not moved since it looked (checked inside Redis). So after an
invalidation no older copy can be served, even from a reader that raced it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl

from redis import Redis, RedisError
from werkzeug.wrappers import Request, Response

from contracts.products import ProductQuerySchema
from gateway import metrics
from gateway.errors import to_json
from gateway.redis import LuaScript, RoundTrips

log = logging.getLogger(__name__)

V = TypeVar("V")  # what a reader saw when it looked, to store against

# Generations outlive entries by far, so a slow reader still sees the bump.
GENERATION_TTL_SECONDS = 24 * 3600

_FILL_IF_UNCHANGED = """
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# Listings (many resources, many queries) are dropped together by moving their kind to a
# new namespace; entries of the old one are never read again and expire.
_LOOKUP_LISTING = LuaScript("""
local namespace = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. namespace .. ':' .. ARGV[2]
return {namespace, redis.call('GET', key)}
""")

_INVALIDATE = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""

# A stock change (every sale) alters only the listings that show the product, so only
# those are dropped: each stored listing is recorded in a set per product it shows. A
# reader that looked before such a drop and stores after it would bring the old stock
# back, so the kind's clock moves on every drop, each dropped product remembers the tick,
# and a store is refused if any of its products was dropped since the reader looked.
_LOOKUP_LISTING_TO_FILL = """
local namespace = redis.call('GET', KEYS[1]) or '0'
local body = redis.call('GET', ARGV[1] .. namespace .. ':' .. ARGV[2])
return {namespace, body, redis.call('GET', KEYS[2]) or '0'}
"""

# KEYS: the entry, then n "dropped at" keys, then the n products' sets.
# ARGV: the clock when the reader looked, the body, the TTL, n.
_FILL_LISTING = """
local n = tonumber(ARGV[4])
for i = 2, n + 1 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for i = n + 2, 2 * n + 1 do
  redis.call('SADD', KEYS[i], KEYS[1])
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return 1
"""

# KEYS: the kind's clock, the product's "dropped at", its set. ARGV: the TTL of the mark.
_DROP_LISTINGS_SHOWING = """
local tick = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], tick, 'EX', ARGV[1])
local shown_in = redis.call('SMEMBERS', KEYS[3])
for _, entry in ipairs(shown_in) do redis.call('DEL', entry) end
redis.call('DEL', KEYS[3])
return #shown_in
"""


@dataclass(frozen=True)
class ListingEntry:
    """Where a listing of a kind for one query is cached: under the kind's current
    namespace, which moves on whenever a resource of that kind changes."""

    kind: str
    query: str  # a digest of the query's parameters

    @property
    def namespace_key(self) -> str:
        return f"cache-ns:{self.kind}"

    @property
    def prefix(self) -> str:
        return f"cache-list:{self.kind}:"

    def key(self, namespace: str) -> str:
        return f"{self.prefix}{namespace}:{self.query}"


def listing_clock_key(kind: str) -> str:
    """One clock per kind, moved on by every drop of the listings showing a resource."""
    return f"cache-clock:{kind}"


@dataclass(frozen=True)
class ShownIn:
    """The keys that record which cached listings of a kind show one resource."""

    kind: str
    resource_id: str

    @property
    def clock_key(self) -> str:
        return listing_clock_key(self.kind)

    @property
    def dropped_key(self) -> str:
        return f"cache-dropped:{self.kind}:{self.resource_id}"

    @property
    def listings_key(self) -> str:
        return f"cache-shown:{self.kind}:{self.resource_id}"


# The parameters each cached listing takes (what its service's query schema knows).
LISTING_PARAMETERS = {"product": frozenset(ProductQuerySchema().fields)}
# Spellings that the service reads as one value ("007" is page 7, "5.00" is 5, "HOME" the
# category home), each written one way in the key. Only spellings the service accepts are
# rewritten: an invalid one must never name a valid one's entry (a hit would answer it).
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")
SPELLINGS: dict[str, tuple[re.Pattern[str], Callable[[str], str]]] = {
    "page": (WHOLE_NUMBER, lambda value: str(int(value))),
    "limit": (WHOLE_NUMBER, lambda value: str(int(value))),
    "min_price": (AMOUNT, lambda value: str(Decimal(value).quantize(Decimal("0.01")))),
    "max_price": (AMOUNT, lambda value: str(Decimal(value).quantize(Decimal("0.01")))),
    "category": (re.compile(r".{1,50}", re.DOTALL), str.lower),
}


def listing_entry(kind: str, query_string: str) -> ListingEntry | None:
    """The entry of a listing request, named by what the route passes on (the first value
    of each parameter, parsed as werkzeug parses request.args) in one spelling per value,
    so that neither path can be made to store a new entry for the same page by repeating a
    parameter or spelling it otherwise. None for a parameter the listing does not know:
    its service refuses it, and nothing is cached."""
    known = LISTING_PARAMETERS[kind]
    values: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True,
                                 errors="werkzeug.url_quote"):
        if name not in known:
            return None
        values.setdefault(name, value)
    canonical = sorted((name, canonical_value(name, value)) for name, value in values.items())
    digest = hashlib.blake2b(to_json(canonical).encode(), digest_size=12).hexdigest()
    return ListingEntry(kind, digest)


def canonical_value(name: str, value: str) -> str:
    spelling = SPELLINGS.get(name)
    if spelling is None or not spelling[0].fullmatch(value):
        return value
    return spelling[1](value)


def read_entry(redis: RoundTrips, entry: str | ListingEntry) -> str | None:
    """The cached body at a resource's key or a listing's entry, if any."""
    body: str | None  # decoded: the gateway's Redis clients decode replies
    if isinstance(entry, str):
        body = redis.execute("GET", entry)
    else:
        body = redis.run_script(_LOOKUP_LISTING, [entry.namespace_key],
                                [entry.prefix, entry.query])[1]
    return body


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_id(value: str) -> str | None:
    """The id as services write it (lower-case UUID), so cache keys match their events."""
    if CANONICAL_UUID.fullmatch(value):  # as clients nearly always send it
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def stays_in_the_same_listings(product_updated: dict[str, Any]) -> bool:
    """Whether a product_updated event changed the stock alone and not across zero: then
    the product is in exactly the listings it was in (in_stock filters included), in the
    same place (no order sorts by stock)."""
    before = product_updated.get("stock_before")
    after = product_updated.get("stock")
    return (product_updated.get("changed") == ["stock"]
            and isinstance(before, int) and isinstance(after, int)
            and (before > 0) == (after > 0))


def entry_key(kind: str, resource_id: str) -> str:
    return f"cache:{kind}:{resource_id}"


def etag_of(body: str) -> str:
    return '"' + hashlib.blake2b(body.encode(), digest_size=12).hexdigest() + '"'


class ResponseCache:
    """Cached JSON bodies of resources by kind ("post", "user") and id."""

    def __init__(self, redis: Redis, ttl_seconds: int, enabled: bool = True):
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.enabled = enabled  # off: every read goes to the service (invalidation still runs)

    @staticmethod
    def _keys(kind: str, resource_id: str) -> list[str]:
        return [entry_key(kind, resource_id), f"cache-gen:{kind}:{resource_id}"]

    def lookup(self, kind: str, resource_id: str) -> tuple[str | None, str]:
        """(the cached body or None, the generation to fill against)."""
        body, generation = cast(list[str | None], self.redis.mget(self._keys(kind, resource_id)))
        return body, generation or ""

    def fill(self, kind: str, resource_id: str, body: str, generation: str) -> None:
        self.redis.eval(_FILL_IF_UNCHANGED, 2, *self._keys(kind, resource_id), generation,
                        body, self.ttl_seconds)

    def invalidate(self, kind: str, resource_id: str) -> None:
        self.redis.eval(_INVALIDATE, 2, *self._keys(kind, resource_id), GENERATION_TTL_SECONDS)

    def invalidate_listings(self, kind: str) -> None:
        self.redis.incr(f"cache-ns:{kind}")

    def invalidate_listings_showing(self, kind: str, resource_id: str) -> int:
        """Drops only the cached listings that show this resource; how many."""
        shown = ShownIn(kind, resource_id)
        return int(self.redis.eval(_DROP_LISTINGS_SHOWING, 3, shown.clock_key,
                                   shown.dropped_key, shown.listings_key,
                                   GENERATION_TTL_SECONDS))

    def lookup_listing(self, entry: ListingEntry) -> tuple[str | None, tuple[str, int]]:
        """(the cached body or None, (the namespace, the clock) to fill against)."""
        namespace, body, clock = self.redis.eval(
            _LOOKUP_LISTING_TO_FILL, 2, entry.namespace_key, listing_clock_key(entry.kind),
            entry.prefix, entry.query)
        return body, (namespace, int(clock))

    def fill_listing(self, entry: ListingEntry, body: str, looked: tuple[str, int],
                     shown_ids: list[str]) -> bool:
        """Stores a listing showing shown_ids, unless one of them was dropped since the
        reader looked; whether it was stored."""
        namespace, clock = looked
        shown = [ShownIn(entry.kind, resource_id) for resource_id in shown_ids]
        keys = [entry.key(namespace), *(s.dropped_key for s in shown),
                *(s.listings_key for s in shown)]
        return bool(self.redis.eval(_FILL_LISTING, len(keys), *keys, clock, body,
                                    self.ttl_seconds, len(shown)))

    def serve(self, request: Request, kind: str, resource_id: str,
              fetch: Callable[[], dict[str, Any]]) -> Response:
        """The resource from cache (X-Cache: HIT) or from fetch() (MISS, then stored)."""
        return self._serve(
            request, kind, lambda: self.lookup(kind, resource_id),
            lambda body, generation: self.fill(kind, resource_id, body, generation), fetch)

    def serve_listing(self, request: Request, kind: str,
                      fetch: Callable[[], dict[str, Any]]) -> Response:
        """A listing for the request's query string, from cache or from fetch()."""
        entry = listing_entry(kind, request.query_string.decode())
        if entry is None:  # a parameter the service does not know: it refuses the request
            return respond_with_etag(request, to_json(fetch()), "MISS")
        shown_ids: list[str] = []

        def fetch_noting_what_it_shows() -> dict[str, Any]:
            page = fetch()
            shown_ids.extend(item["id"] for item in page.get("items", []))
            return page

        def store(body: str, looked: tuple[str, int]) -> None:
            self.fill_listing(entry, body, looked, shown_ids)

        return self._serve(request, f"{kind}-listing", lambda: self.lookup_listing(entry),
                           store, fetch_noting_what_it_shows)

    def _serve(self, request: Request, kind: str, lookup: Callable[[], tuple[str | None, V]],
               store: Callable[[str, V], None], fetch: Callable[[], dict[str, Any]]) -> Response:
        if not self.enabled:
            return respond_with_etag(request, to_json(fetch()), "MISS")
        try:
            body, version = lookup()
        except RedisError as error:
            log.warning("cache unavailable, serving %s uncached: %s", kind, error)
            metrics.observe_cache(kind, "unavailable")
            return respond_with_etag(request, to_json(fetch()), "MISS")
        if body is not None:
            metrics.observe_cache(kind, "hit")
            return respond_with_etag(request, body, "HIT")
        metrics.observe_cache(kind, "miss")
        body = to_json(fetch())
        try:
            store(body, version)
        except RedisError as error:
            log.warning("cache unavailable, %s not stored: %s", kind, error)
        return respond_with_etag(request, body, "MISS")


def respond_with_etag(request: Request, body: str, cache_status: str) -> Response:
    """A 200 with an ETag, or a 304 when the client already holds that version.

    Clients may keep the body if they revalidate it (no-cache); the web layer turns that
    into no-store for requests that carry credentials.
    """
    etag = etag_of(body)
    headers = {"ETag": etag, "X-Cache": cache_status, "Cache-Control": "no-cache"}
    if request.if_none_match.contains_weak(etag.strip('"')):
        return Response(status=304, headers=headers)
    return Response(body, status=200, headers=headers, mimetype="application/json")
