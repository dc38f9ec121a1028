"""Cache hits answered straight from the WSGI environ.

A hit is the gateway's commonest answer and needs no service: one Redis round trip
counts the request against its rate limit and fetches the cached body together. This
path builds no werkzeug request or response for it; it sends the same headers as the
full path (ETag and 304, CORS, security headers, rate limit, request id) and records the
same metrics and access log line. Anything else (a miss, a 429, a route that is not
cached, an odd path) goes on to the full path, with the count already made.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_etags
from werkzeug.routing import Map, Rule

from gateway import metrics
from gateway.access import (
    HSTS,
    SECURITY_HEADERS,
    USER_KEY,
    accepted_request_id,
    record,
    request_id_headers,
    route_template,
)
from gateway.cache import ListingEntry, etag_of
from gateway.cors import CorsPolicy
from gateway.limits import Verdict
from gateway.proxies import TrustedProxies
from gateway.raw import AnyRequest, RawRequest
from shop.context import bind_request_id

StartResponse = Callable[..., Any]
# What counting a request against its rate limit gave: the verdict (None when not
# limited) and the cached body read in the same round trip.
Counted = tuple[Verdict | None, str | None]


class FullPath(Protocol):
    """What the hit path asks of the full one (gateway.http's WSGI app): its routes, the
    cache entry a request may be answered from, the count, and the CORS policy."""

    url_map: Map
    cors: CorsPolicy
    trusted_proxies: TrustedProxies

    def cache_entry(self, request: AnyRequest,
                    match: tuple[Rule, Mapping[str, Any]]) -> tuple[str, str | ListingEntry] | None:
        ...

    def count_request(self, request: AnyRequest,
                      cache_key: str | ListingEntry | None) -> Counted: ...

MATCHES_KEPT = 4096
MATCH_KEY = "shop.route_match"  # (rule, values) of a GET the hit path matched, in the environ


class HitPath:
    def __init__(self, app: FullPath) -> None:
        self.app = app
        self.adapter = app.url_map.bind("localhost")
        self.routes: dict[str, str] = {}  # rule -> its route template, made once per rule
        # The same few paths are read over and over: their matches are kept (bounded).
        self.match = functools.lru_cache(maxsize=MATCHES_KEPT)(self._match)

    def _match(self, path: str) -> tuple[Rule, Mapping[str, Any]] | None:
        try:
            match: tuple[Rule, Mapping[str, Any]] = self.adapter.match(
                path, "GET", return_rule=True)
            return match
        except HTTPException:
            return None

    def serve(self, environ: dict[str, Any], start_response: StartResponse,
              started: float) -> tuple[list[bytes] | None, Counted | None]:
        """(the WSGI body, None) for a hit; else (None, the (verdict, cached) count made
        on the way, or None) for the full path to go on with."""
        request = RawRequest(environ)
        if not request.path.isascii():  # werkzeug decodes those; let it
            return None, None
        match = self.match(request.path)
        if match is None:
            return None, None
        environ[MATCH_KEY] = match  # the full path need not match it again
        entry = self.app.cache_entry(request, match)
        if entry is None:
            return None, None
        kind, key = entry
        counted = self.app.count_request(request, key)
        verdict, cached = counted
        if cached is None or (verdict is not None and not verdict.allowed):
            return None, counted
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"),
                                         environ.get("HTTP_X_CORRELATION_ID"))
        bind_request_id(request_id)
        status, headers, body = self.answer(environ, cached, verdict, request_id)
        rule = match[0].rule
        route = self.routes.get(rule) or self.routes.setdefault(rule, route_template(rule))
        metrics.observe_cache(kind, "hit")
        record(route, "GET", request.path, int(status[:3]), (time.monotonic() - started) * 1000,
               self.app.trusted_proxies.client(request), environ.get(USER_KEY))
        bind_request_id(None)
        start_response(status, headers)  # last: whatever fails before, the full path answers
        return body, None

    def answer(self, environ: dict[str, Any], cached: str, verdict: Verdict | None,
               request_id: str) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        etag = etag_of(cached)
        # What a token saw is never kept; anyone else may keep it if they revalidate.
        keep = "no-store" if "HTTP_AUTHORIZATION" in environ else "no-cache"
        headers = [("ETag", etag), ("X-Cache", "HIT"), ("Cache-Control", keep)]
        if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains_weak(etag.strip('"')):
            status, body = "304 NOT MODIFIED", []
        else:
            payload = cached.encode()
            status, body = "200 OK", [payload]
            headers += [("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload)))]
        if verdict is not None:
            headers += verdict.headers().items()
        headers += SECURITY_HEADERS.items()
        headers += self.app.cors.response_headers(environ.get("HTTP_ORIGIN")).items()
        headers += [("Vary", "Origin"),
                    *request_id_headers(request_id, "HTTP_X_CORRELATION_ID" in environ)]
        if self.app.trusted_proxies.came_over_tls(environ.get("wsgi.url_scheme", "http"),
                                                  environ.get("REMOTE_ADDR"),
                                                  environ.get("HTTP_X_FORWARDED_PROTO")):
            headers.append(HSTS)
        return status, headers, body
