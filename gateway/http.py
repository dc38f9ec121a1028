"""The gateway's HTTP layer: nameko's web server and @http entrypoint, made to speak JSON.

Every response, from a route or from routing itself (404, 405, 413), is JSON and carries
the request id and the security headers. Every route is also served under /api/v1 and
/api.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from eventlet import wsgi
from nameko.containers import ServiceContainer
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from opentelemetry import trace
from redis import RedisError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.wrappers import Request, Response

from gateway.access import (
    API_PREFIXES,
    HSTS,
    SECURITY_HEADERS,
    USER_KEY,
    accepted_request_id,
    record,
    request_id_headers,
    route_template,
    with_prefixes,
)
from gateway.cache import ListingEntry, canonical_id, entry_key, listing_entry, read_entry
from gateway.connections import (
    CLOSE_KEY,
    BoundedProtocol,
    BoundedServer,
    ConnectionCounter,
    accept_loop,
    raise_open_files_limit,
)
from gateway.cors import CorsPolicy
from gateway.drain import CLOSED, DRAINING, SERVING, Drain
from gateway.errors import (
    EXPECTED_ERRORS,
    error_response,
    json_response,
    response_for_exception,
)
from gateway.hits import MATCH_KEY, Counted, HitPath, StartResponse
from gateway.limits import RateLimiter
from gateway.payloads import BODY_READ_KEY, declares_body, read_whole_body
from gateway.proxies import TrustedProxies
from gateway.raw import AnyRequest
from gateway.redis import Redis, RoundTrips
from gateway.settings import GatewaySettings
from shop import tracing
from shop.context import REQUEST_ID_KEY, bind_request_id
from shop.errors import ShopError
from shop.nameko_internals import listening_socket, registered_providers, still_accepting
from shop.settings import settings_of
from shop.tokens import Tokens, TokenService

SIGN_IN_PATHS = ("/signin", "/users")  # POST to these also counts against the sign-in limit
log = logging.getLogger(__name__)
HEALTH_PATHS = with_prefixes(("/health",))
UNLIMITED_PATHS = HEALTH_PATHS  # probes are answered however busy their address is

# What a route returns: a JSON-able payload, (status, payload), (status, headers,
# payload), or a Response.
Reply = Any
# A URL match: (the rule, its path values), or the HTTPException routing ended in.
Match = tuple[Rule, Mapping[str, Any]] | HTTPException

Provider = TypeVar("Provider")


class GatewayRequest(Request):
    """A werkzeug Request with what the web layer learns of it on the way."""

    request_id: str = ""
    path_values: dict[str, Any] | None = None
    route_template: str | None = None


class GatewayWebServer(WebServer):
    """Nameko's WebServer with the gateway's routing, limits and headers."""

    wsgi_server: wsgi.Server | None = None

    def make_url_map(self) -> Map:
        url_map = Map()
        for provider in registered_providers(self):
            for prefix in ("", *API_PREFIXES):
                url_map.add(Rule(prefix + provider.url, methods=provider.method.split(","),
                                 endpoint=provider))
        return url_map

    def get_wsgi_app(self) -> GatewayWsgiApp:
        return GatewayWsgiApp(self)

    def get_wsgi_server(self, sock: socket.socket, wsgi_app: GatewayWsgiApp,
                        protocol: type = BoundedProtocol, debug: bool = False) -> wsgi.Server:
        """nameko's server with the connection bounds, minus eventlet's re-spelling of
        every response header's name (ours are spelled right already; names are
        case-insensitive anyway), kept so that the drain can end keep-alive."""
        settings = self.settings
        self.wsgi_server = BoundedServer(
            sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=debug,
            log=logging.getLogger("nameko.web.server"), capitalize_response_headers=False,
            # Each read and write of a socket; the head and the body have their deadlines.
            socket_timeout=max(settings.http_header_timeout_seconds,
                               settings.http_body_timeout_seconds),
            header_timeout_seconds=settings.http_header_timeout_seconds,
            idle_seconds=settings.http_idle_seconds)
        return self.wsgi_server

    def run(self) -> None:
        """nameko's accept loop, with the connection caps."""
        assert self.wsgi_server is not None
        accept_loop(listening_socket(self), self.connections, lambda: still_accepting(self),
                    self.process_request, self.container.spawn_managed_thread,
                    self.wsgi_server.socket_timeout)

    def context_data_from_headers(self, request: GatewayRequest) -> dict[str, Any]:
        data = {REQUEST_ID_KEY: request.request_id}
        if self.tracer is not None:  # the route's worker: a child of the request's span
            tracing.carry(data, "", trace.get_current_span())
        return data

    def setup(self) -> None:
        """Reads the settings, so that a bad one stops the gateway before it listens."""
        super().setup()
        self.settings = settings_of(self.container, GatewaySettings)
        self.cors = CorsPolicy.of(self.settings.cors_origins,
                                  self.settings.cors_allow_credentials)
        self.trusted_proxies = TrustedProxies.parse(self.settings.trusted_proxies)
        self.connections = ConnectionCounter(self.settings.http_max_connections,
                                             self.settings.http_max_connections_per_client,
                                             self.trusted_proxies)
        raise_open_files_limit(self.settings.http_max_connections + 100)
        self.drain = Drain(self.settings.shutdown_drain_seconds, self.stop_keeping_alive)
        self.tracer = tracing.tracer_for(self.container.service_name)

    def stop_keeping_alive(self) -> None:
        """Every answer from now on closes its connection (eventlet says so itself)."""
        if self.wsgi_server is not None:
            self.wsgi_server.keepalive = False


class GatewayWsgiApp:
    """The WSGI app: request id, CORS, rate limits, body limit and routing, then a route."""

    def __init__(self, server: GatewayWebServer) -> None:
        settings = server.settings
        self.url_map = server.make_url_map()
        self.max_body_bytes = settings.max_body_bytes
        self.body_timeout_seconds = settings.http_body_timeout_seconds
        self.cors = server.cors
        self.trusted_proxies = server.trusted_proxies
        self.limiter = RateLimiter.from_settings(settings, with_prefixes(SIGN_IN_PATHS),
                                                 self.trusted_proxies)
        self.limits_enabled = settings.rate_limit_enabled
        self.cache_enabled = settings.cache_enabled
        # The service's own Redis and token dependencies serve this layer too.
        self.redis_provider = find_dependency(server.container, Redis)
        token_service = find_dependency(server.container, TokenService)
        self.tokens: Tokens | None = token_service.tokens if token_service else None
        self.hits = HitPath(self)
        self.drain = server.drain
        self.tracer = server.tracer

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.tracer is None:
            return self.answer(environ, start_response)
        span, token = tracing.http_span(self.tracer, environ)
        try:
            return self.answer(environ, start_response)
        finally:
            tracing.http_done(span, token)

    def answer(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        counted: Counted | None = None
        if self.cache_enabled and environ["REQUEST_METHOD"] == "GET" \
                and self.drain.state is SERVING:
            try:
                answered, counted = self.hits.serve(environ, start_response, started)
            except Exception:  # a bug on the hit path: the full path still answers
                log.exception("the cache-hit path failed on %s", environ.get("PATH_INFO"))
                answered, counted = None, None
            if answered is not None:
                return answered
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # eventlet's input ends a chunked body itself; without this flag werkzeug
            # would read no body at all. max_content_length still bounds it.
            environ["wsgi.input_terminated"] = True
        request = GatewayRequest(environ, shallow=True)
        request.request_id = accepted_request_id(request.headers.get("X-Request-ID"),
                                                 request.headers.get("X-Correlation-ID"))
        request.max_content_length = self.max_body_bytes
        self.trusted_proxies.client(request)  # kept in the environ for the routes
        bind_request_id(request.request_id)
        try:
            response = self.respond(request, counted)
        except Exception as exc:  # a bug in the gateway itself: still a JSON 500
            response = response_for_exception(exc)
        self.add_common_headers(request, response)
        if declares_body(environ) and not environ.get(BODY_READ_KEY) and CLOSE_KEY in environ:
            environ[CLOSE_KEY]()  # eventlet would read it to drop it, unbounded
        elapsed_ms = (time.monotonic() - started) * 1000
        route = self.route_of(request)
        record(route, request.method, request.path, response.status_code, elapsed_ms,
               self.trusted_proxies.client(request), request.environ.get(USER_KEY))
        bind_request_id(None)
        body: Iterable[bytes] = response(environ, start_response)
        return body

    def respond(self, request: GatewayRequest,
                counted: Counted | None = None) -> Response:
        """counted: (verdict, cached) when the hit path counted this request already."""
        if self.drain.state is not SERVING:
            stopping = self.while_stopping(request)
            if stopping is not None:
                return stopping
        match: Match | None = request.environ.get(MATCH_KEY)  # the hit path's match, if any
        if match is None:  # not matched by the hit path
            adapter = self.url_map.bind_to_environ(request.environ)
            if request.method == "OPTIONS":
                return self.options(request, adapter)
            try:
                match = adapter.match(return_rule=True)
            except HTTPException as exc:
                match = exc
        refused = self.take_body(request, match)
        if refused is not None:  # counted against nothing: a stalled client costs no Redis
            return refused
        verdict, _ = counted or self.count_request(request, None)
        if verdict is not None and not verdict.allowed:
            response = error_response(429, "RATE_LIMITED", "Too many requests; slow down.")
        else:
            assert match is not None
            response = self.dispatch(request, match)
        if verdict is not None:
            response.headers.update(verdict.headers())
        return response

    def while_stopping(self, request: GatewayRequest) -> Response | None:
        """The answer of a gateway on its way out, where it differs from the route's."""
        if self.drain.state is CLOSED:  # the routes and their services are stopping
            return error_response(503, "SERVICE_UNAVAILABLE",
                                  "This gateway is stopping; send the request again.",
                                  headers={"Retry-After": "1"})
        if self.drain.state is DRAINING and request.path in HEALTH_PATHS:
            return json_response({"status": "draining"}, 503)
        return None

    def cache_entry(self, request: AnyRequest,
                    match: Match) -> tuple[str, str | ListingEntry] | None:
        """(kind, entry) of the cache entry that may answer this request, if any."""
        if not self.cache_enabled or request.method != "GET" or isinstance(match, Exception):
            return None
        rule, values = match
        endpoint = route_of_rule(rule)
        if endpoint.cached_listing is not None:
            query = request.environ.get("QUERY_STRING", "")
            if not query.isascii():  # werkzeug's decoding of those is for the full path
                return None
            listing = endpoint.cached_listing
            entry = listing_entry(listing, query)
            return (f"{listing}-listing", entry) if entry is not None else None
        kind = endpoint.cached
        if kind is None or (endpoint.cached_for_anonymous_only
                            and "Authorization" in request.headers):
            return None
        resource_id = canonical_id(next(iter(values.values()), ""))
        return (kind, entry_key(kind, resource_id)) if resource_id else None

    def count_request(self, request: AnyRequest,
                      cache_key: str | ListingEntry | None) -> Counted:
        """The rate limit verdict (None when not limited) and the cached body, if any."""
        redis = self.redis_provider.round_trips if self.redis_provider else None
        if redis is None:
            return None, None
        if not self.limits_enabled or request.path in UNLIMITED_PATHS or self.tokens is None:
            return None, self.read_cache(redis, cache_key)
        return self.limiter.check(redis, request, self.tokens, cache_key)

    def read_cache(self, redis: RoundTrips, entry: str | ListingEntry | None) -> str | None:
        if entry is None:
            return None
        try:
            return read_entry(redis, entry)
        except RedisError:
            return None  # the route serves it uncached and says so

    def options(self, request: Request, adapter: MapAdapter) -> Response:
        """Preflights (and plain OPTIONS): 204 with what the route allows, or 404."""
        allowed = sorted(adapter.allowed_methods())
        if not allowed:
            return error_response(404, "NOT_FOUND", f"No route for {request.path[:200]}.")
        headers = {"Allow": ", ".join(allowed)}
        requested = request.headers.get("Access-Control-Request-Method")
        if requested:
            headers.update(self.cors.preflight_headers(
                request.headers.get("Origin"), requested, allowed))
        return Response(status=204, headers=headers)

    def take_body(self, request: GatewayRequest, match: Match | None) -> Response | None:
        """Reads a routed request's body into memory, before it is counted or given a
        worker; the refusal (413, 408, 400) if it cannot be had."""
        if match is None or isinstance(match, HTTPException) \
                or not declares_body(request.environ):
            return None
        if (request.content_length or 0) > self.max_body_bytes:
            return response_for_exception(RequestEntityTooLarge(
                f"The body is larger than {self.max_body_bytes} bytes."))
        try:
            read_whole_body(request.environ, self.max_body_bytes, self.body_timeout_seconds)
        except (ShopError, HTTPException) as refused:
            return response_for_exception(refused)
        return None

    def dispatch(self, request: GatewayRequest, match: Match) -> Response:
        if isinstance(match, NotFound):
            return error_response(404, "NOT_FOUND", f"No route for {request.path[:200]}.")
        if isinstance(match, HTTPException):
            return response_for_exception(match)
        rule, values = match
        request.path_values = dict(values)
        request.route_template = route_template(rule.rule)
        response: Response = route_of_rule(rule).handle_request(request)
        return response

    def route_of(self, request: GatewayRequest) -> str:
        """The route template a request was (or would have been) sent to."""
        if request.route_template:
            return request.route_template
        try:
            rule, _ = self.url_map.bind_to_environ(request.environ).match(return_rule=True)
        except HTTPException:
            return "unmatched"
        return route_template(rule.rule)

    def add_common_headers(self, request: GatewayRequest, response: Response) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if "Authorization" in request.headers:
            response.headers["Cache-Control"] = "no-store"  # never keep what a token saw
        else:
            response.headers.setdefault("Cache-Control", "no-store")
        if request.method != "OPTIONS":
            response.headers.extend(self.cors.response_headers(request.headers.get("Origin")))
        response.vary.add("Origin")
        for name, value in request_id_headers(request.request_id,
                                              "X-Correlation-ID" in request.headers):
            response.headers[name] = value
        if self.trusted_proxies.came_over_tls(request.scheme, request.remote_addr,
                                              request.headers.get("X-Forwarded-Proto")):
            response.headers.setdefault(*HSTS)


def route_of_rule(rule: Rule) -> Route:
    """The Route a URL rule sends to (werkzeug types endpoints as names)."""
    return cast(Route, rule.endpoint)


def find_dependency(container: ServiceContainer, kind: type[Provider]) -> Provider | None:
    """The container's dependency provider of that kind, if the service declares one."""
    return next((dep for dep in container.dependencies if isinstance(dep, kind)), None)


class Route(HttpRequestHandler):
    """An @http entrypoint whose results become JSON bodies and errors the table's status.

    `cached="post"` names the cache kind of a GET whose first path value is the id;
    `cached_listing="product"` the kind whose listings a GET serves, one per query.
    A route returns a JSON-able payload, or (status, payload), or (status, headers,
    payload); a payload of None is an empty body.
    """

    server = GatewayWebServer()

    def __init__(self, method: str, url: str, cached: str | None = None,
                 cached_for_anonymous_only: bool = False, cached_listing: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("expected_exceptions", EXPECTED_ERRORS)
        super().__init__(method, url, **kwargs)
        # The cache kind whose entries answer this GET; the web layer serves hits itself.
        self.cached = cached
        self.cached_for_anonymous_only = cached_for_anonymous_only
        self.cached_listing = cached_listing

    def stop(self) -> None:
        self.server.drain.run()
        super().stop()

    def response_from_result(self, result: Reply) -> Response:
        if isinstance(result, Response):
            return result
        status, headers, payload = 200, None, result
        if isinstance(result, tuple):
            status, headers, payload = result if len(result) == 3 else (result[0], None,
                                                                         result[1])
        return json_response(payload, status, headers)

    def response_from_exception(self, exc: Exception) -> Response:
        return response_for_exception(exc)


route = Route.decorator
