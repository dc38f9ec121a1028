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
from typing import Any, cast
from urllib.parse import parse_qsl

from redis import Redis, RedisError
from werkzeug.wrappers import Request, Response

from gateway import metrics
from gateway.errors import to_json
from gateway.redis import LuaScript, RoundTrips

log = logging.getLogger(__name__)

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


def listing_entry(kind: str, query_string: str) -> ListingEntry:
    """The entry of a listing request, its parameters parsed exactly as werkzeug parses
    request.args (which the route passes on), so both paths name the same entry."""
    pairs = parse_qsl(query_string, keep_blank_values=True, errors="werkzeug.url_quote")
    digest = hashlib.blake2b(to_json(sorted(pairs)).encode(), digest_size=12).hexdigest()
    return ListingEntry(kind, digest)


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

        def lookup() -> tuple[str | None, str]:
            namespace, body = self.redis.eval(_LOOKUP_LISTING.text, 1, entry.namespace_key,
                                              entry.prefix, entry.query)
            return body, namespace

        def store(body: str, namespace: str) -> None:
            self.redis.set(entry.key(namespace), body, ex=self.ttl_seconds)

        return self._serve(request, f"{kind}-listing", lookup, store, fetch)

    def _serve(self, request: Request, kind: str, lookup: Callable[[], tuple[str | None, str]],
               store: Callable[[str, str], None], fetch: Callable[[], dict[str, Any]]) -> Response:
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
