"""The gateway's routes. Run with `nameko run --config config.yml gateway.service`.

Each route authenticates, calls the owning service over RPC (with a deadline) and maps
the answer; the business rules live in the services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from nameko.containers import WorkerContext
from nameko.events import BROADCAST
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from redis import RedisError
from werkzeug.wrappers import Request, Response

import shop
from gateway import docs, metrics
from gateway.auth import (
    DELETED,
    AccountChange,
    Accounts,
    RecentAccountChanges,
    actor_from_request,
    change_of,
    viewer_from_request,
)
from gateway.cache import (
    ResponseCache,
    canonical_id,
    respond_with_etag,
    stays_in_the_same_listings,
)
from gateway.errors import to_json
from gateway.http import Reply, route
from gateway.openapi import openapi_document
from gateway.payloads import json_body, location, replayed_header
from gateway.proxies import CLIENT_KEY
from gateway.redis import Redis
from gateway.settings import GatewaySettings
from gateway.watch import DeadLetterWatch, RecentAnswer
from shop.base import ShopService
from shop.errors import ShopError
from shop.redelivery import event_handler
from shop.roster import BACKENDS
from shop.rpc import DeadlineReply, DeadlineRpc, ServicesProxy
from shop.settings import SettingsProvider
from shop.tokens import TokenService

# The services behind the gateway, probed by /health/services.
LISTED_KINDS = ("product",)  # kinds whose listings are cached too
HEALTH_TIMEOUT_SECONDS = 2.0
# /health/services probes every service at most this often, however often it is asked.
HEALTH_ANSWER_SECONDS = 2.0

log = logging.getLogger(__name__)



class StartTime(DependencyProvider):
    """Seconds since this gateway process started."""

    def start(self) -> None:
        self.started = time.monotonic()

    def get_dependency(self, worker_ctx: WorkerContext) -> float:
        return time.monotonic() - self.started


class GatewayService(ShopService):
    name = "gateway"

    rpc = DeadlineRpc(observe=metrics.observe_rpc)
    redis = Redis("default")
    tokens = TokenService()
    account_changes = RecentAccountChanges()
    settings = SettingsProvider(GatewaySettings)
    uptime = StartTime()
    services_health = RecentAnswer(HEALTH_ANSWER_SECONDS)
    dead_letters = DeadLetterWatch()

    # --- sign-in and users -------------------------------------------------------

    @route("POST", "/signin")
    def sign_in(self, request: Request) -> Reply:
        return self.rpc.users.sign_in(json_body(request))

    @route("POST", "/users")
    def create_user(self, request: Request) -> Reply:
        user, replayed = self._write(request, self.rpc.users.create_user, json_body(request))
        return 201, {**location(request, f"/users/{user['id']}"), **replayed}, user

    @route("GET", "/users")
    def list_users(self, request: Request) -> Reply:
        return self.rpc.users.list_users(
            page=request.args.get("page", 1), limit=request.args.get("limit", 20))

    @route("GET", "/users/me")
    def get_me(self, request: Request) -> Reply:
        actor = self._actor(request)
        return self.rpc.users.get_user(actor["id"], actor=actor)

    @route("GET", "/users/<string:user_id>", cached="user", cached_for_anonymous_only=True)
    def get_user(self, request: Request, user_id: str) -> Reply:
        actor = viewer_from_request(request, self._accounts())
        if actor is not None:  # what a signed-in viewer sees may be theirs alone: never shared
            return respond_with_etag(
                request, to_json(self.rpc.users.get_user(user_id, actor=actor)), "MISS")
        return self._cached(request, "user", user_id, lambda: self.rpc.users.get_user(user_id))

    @route("PATCH", "/users/me")
    def update_me(self, request: Request) -> Reply:
        actor = self._actor(request)
        return self._change_user(request, actor["id"], actor)

    @route("PATCH", "/users/<string:user_id>")
    def update_user(self, request: Request, user_id: str) -> Reply:
        return self._change_user(request, user_id, self._actor(request))

    @route("DELETE", "/users/me")
    def delete_me(self, request: Request) -> Reply:
        actor = self._actor(request)
        return self._delete_user(request, actor["id"], actor)

    @route("DELETE", "/users/<string:user_id>")
    def delete_user(self, request: Request, user_id: str) -> Reply:
        return self._delete_user(request, user_id, self._actor(request))

    # --- posts and comments ------------------------------------------------------

    @route("POST", "/posts")
    def create_post(self, request: Request) -> Reply:
        post, replayed = self._write(request, self.rpc.posts.create_post, json_body(request),
                                     actor=self._actor(request))
        return 201, {**location(request, f"/posts/{post['id']}"), **replayed}, post

    @route("GET", "/posts")
    def list_posts(self, request: Request) -> Reply:
        return self.rpc.posts.list_posts(
            page=request.args.get("page", 1), limit=request.args.get("limit", 20),
            author_id=request.args.get("author_id"))

    @route("GET", "/posts/<string:post_id>", cached="post")
    def get_post(self, request: Request, post_id: str) -> Reply:
        return self._cached(request, "post", post_id, lambda: self.rpc.posts.get_post(post_id))

    @route("PATCH", "/posts/<string:post_id>")
    def update_post(self, request: Request, post_id: str) -> Reply:
        actor = self._actor(request)
        post, replayed = self._write(request, self.rpc.posts.update_post, post_id,
                                     json_body(request), actor=actor)
        self._invalidate_now("post", post["id"])
        return 200, replayed, post

    @route("DELETE", "/posts/<string:post_id>")
    def delete_post(self, request: Request, post_id: str) -> Reply:
        _, replayed = self._write(request, self.rpc.posts.delete_post, post_id,
                                  actor=self._actor(request))
        self._invalidate_now("post", post_id)
        return 204, replayed, None

    @route("POST", "/posts/<string:post_id>/comments")
    def add_comment(self, request: Request, post_id: str) -> Reply:
        actor = self._actor(request)
        comment, replayed = self._write(request, self.rpc.posts.add_comment, post_id,
                                        json_body(request), actor=actor)
        return 201, replayed, comment

    @route("GET", "/posts/<string:post_id>/comments")
    def list_comments(self, request: Request, post_id: str) -> Reply:
        return self.rpc.posts.list_comments(
            post_id, page=request.args.get("page", 1), limit=request.args.get("limit", 20))

    @route("DELETE", "/posts/<string:post_id>/comments/<string:comment_id>")
    def delete_comment(self, request: Request, post_id: str, comment_id: str) -> Reply:
        _, replayed = self._write(request, self.rpc.posts.delete_comment, post_id, comment_id,
                                  actor=self._actor(request))
        return 204, replayed, None

    # --- products ------------------------------------------------------------------

    @route("GET", "/products", cached_listing="product")
    def list_products(self, request: Request) -> Reply:
        # One dict, not keywords: a parameter named like Python's own ("self") stays data.
        return self._cache().serve_listing(
            request, "product", lambda: self.rpc.products.list_products(query=dict(request.args)))

    @route("GET", "/products/<string:product_id>", cached="product")
    def get_product(self, request: Request, product_id: str) -> Reply:
        return self._cached(request, "product", product_id,
                            lambda: self.rpc.products.get_product(product_id))

    @route("POST", "/products")
    def create_product(self, request: Request) -> Reply:
        product, replayed = self._write(request, self.rpc.products.create_product,
                                        json_body(request), actor=self._actor(request))
        self._invalidate_now("product", product["id"])
        return 201, {**location(request, f"/products/{product['id']}"), **replayed}, product

    @route("PATCH", "/products/<string:product_id>")
    def update_product(self, request: Request, product_id: str) -> Reply:
        actor = self._actor(request)
        product, replayed = self._write(request, self.rpc.products.update_product, product_id,
                                        json_body(request), actor=actor)
        self._invalidate_now("product", product["id"])
        return 200, replayed, product

    @route("PATCH", "/products/<string:product_id>/stock")
    def set_stock(self, request: Request, product_id: str) -> Reply:
        product, replayed = self._write(request, self.rpc.products.set_stock, product_id,
                                        json_body(request), actor=self._actor(request))
        self._invalidate_now("product", product["id"])
        return 200, replayed, product

    @route("DELETE", "/products/<string:product_id>")
    def delete_product(self, request: Request, product_id: str) -> Reply:
        _, replayed = self._write(request, self.rpc.products.delete_product, product_id,
                                  actor=self._actor(request))
        self._invalidate_now("product", product_id)
        return 204, replayed, None

    # --- orders --------------------------------------------------------------------

    @route("POST", "/orders")
    def place_order(self, request: Request) -> Reply:
        placed = self.rpc.orders.place_order(
            json_body(request), actor=self._actor(request),
            idempotency_key=request.headers.get("Idempotency-Key"))
        order = placed["order"]
        return 201, {**location(request, f"/orders/{order['id']}"),
                     **replayed_header(placed["replayed"])}, order

    @route("GET", "/orders")
    def list_orders(self, request: Request) -> Reply:
        return self.rpc.orders.list_orders(
            self._actor(request), page=request.args.get("page", 1),
            limit=request.args.get("limit", 20), status=request.args.get("status"),
            user_id=request.args.get("user_id"))

    @route("GET", "/orders/<string:order_id>")
    def get_order(self, request: Request, order_id: str) -> Reply:
        return self.rpc.orders.get_order(order_id, actor=self._actor(request))

    @route("GET", "/orders/<string:order_id>/details")
    def get_order_details(self, request: Request, order_id: str) -> Reply:
        return self.rpc.orders.get_order_details(order_id, actor=self._actor(request))

    @route("POST", "/orders/<string:order_id>/cancel")
    def cancel_order(self, request: Request, order_id: str) -> Reply:
        order, replayed = self._write(request, self.rpc.orders.cancel_order, order_id,
                                      actor=self._actor(request))
        return 200, replayed, order

    @route("POST", "/orders/<string:order_id>/status")
    def set_order_status(self, request: Request, order_id: str) -> Reply:
        actor = self._actor(request)
        order, replayed = self._write(request, self.rpc.orders.set_status, order_id,
                                      json_body(request).get("status"), actor=actor)
        return 200, replayed, order

    # --- notifications -------------------------------------------------------------

    @route("GET", "/notifications")
    def list_notifications(self, request: Request) -> Reply:
        return self.rpc.notifications.list_notifications(
            self._actor(request), unread=request.args.get("unread", False),
            page=request.args.get("page", 1), limit=request.args.get("limit", 20))

    @route("POST", "/notifications/<string:notification_id>/read")
    def mark_notification_read(self, request: Request, notification_id: str) -> Reply:
        notification, replayed = self._write(request, self.rpc.notifications.mark_read,
                                             notification_id, actor=self._actor(request))
        return 200, replayed, notification

    @route("POST", "/notifications/read-all")
    def mark_all_notifications_read(self, request: Request) -> Reply:
        marked, replayed = self._write(request, self.rpc.notifications.mark_all_read,
                                       self._actor(request))
        return 200, replayed, marked

    # --- keeping the cache and the revocations true to the services --------------

    @event_handler("users", "user_deleted", handler_type=BROADCAST, reliable_delivery=False)
    def remember_deleted_user(self, payload: dict[str, Any]) -> None:
        """Every gateway process stops accepting a deleted user's tokens at once."""
        self._accounts().remember(payload["id"], AccountChange(DELETED))

    @event_handler("users", "user_deleted")
    def forget_deleted_user(self, payload: dict[str, Any]) -> None:
        """Records the deletion for gateways started later, and drops the cached profile."""
        self._accounts().record(payload["id"], AccountChange(DELETED))
        self._forget("user", payload["id"])

    @event_handler("users", "user_updated", handler_type=BROADCAST, reliable_delivery=False)
    def remember_account_change(self, payload: dict[str, Any]) -> None:
        """Every gateway process applies a password or role change to tokens at once."""
        change = change_of(payload)
        if change is not None:
            self._accounts().remember(payload["id"], change)

    @event_handler("users", "user_updated")
    def forget_updated_user(self, payload: dict[str, Any]) -> None:
        """Records a password or role change for gateways started later, and drops the
        cached profile."""
        change = change_of(payload)
        if change is not None:
            self._accounts().record(payload["id"], change)
        self._forget("user", payload["id"])

    @event_handler("posts", "post_updated")
    def forget_updated_post(self, payload: dict[str, Any]) -> None:
        self._forget("post", payload["id"])

    @event_handler("posts", "post_deleted")
    def forget_deleted_post(self, payload: dict[str, Any]) -> None:
        self._forget("post", payload["id"])

    @event_handler("products", "product_created")
    def forget_listings_of_new_product(self, payload: dict[str, Any]) -> None:
        self._cache().invalidate_listings("product")

    @event_handler("products", "product_updated")
    def forget_updated_product(self, payload: dict[str, Any]) -> None:
        """A sale (stock only, still on sale or still sold out) drops the product and the
        listings that show it; any other change drops every listing, since it may move
        the product into or out of any of them."""
        if stays_in_the_same_listings(payload):
            cache = self._cache()
            cache.invalidate("product", payload["id"])
            cache.invalidate_listings_showing("product", payload["id"])
        else:
            self._forget("product", payload["id"])

    @event_handler("products", "product_deleted")
    def forget_deleted_product(self, payload: dict[str, Any]) -> None:
        self._forget("product", payload["id"])

    # --- the gateway itself ------------------------------------------------------

    @route("GET", "/health")
    def health(self, request: Request) -> Reply:
        return {"status": "ok"}

    @route("GET", "/health/services")
    def health_of_services(self, request: Request) -> Reply:
        return self.services_health(self._probe_services)

    def _probe_services(self) -> Reply:
        probes = self.rpc.with_timeout(HEALTH_TIMEOUT_SECONDS)
        started = time.monotonic()
        replies = {name: self._send_probe(probes, name) for name in BACKENDS}
        services = {name: self._probe_result(reply, started) for name, reply in replies.items()}
        healthy = all(service["status"] == "ok" for service in services.values())
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded",
                                           "services": services}

    @route("GET", "/openapi.json")
    def openapi(self, request: Request) -> Reply:
        return openapi_document()

    @route("GET", "/docs")
    def docs_page(self, request: Request) -> Reply:
        return docs.page()

    @route("GET", "/docs/static/<string:name>")
    def docs_file(self, request: Request, name: str) -> Reply:
        return docs.static_file(name)

    @route("GET", "/info")
    def info(self, request: Request) -> Reply:
        return {"name": "nameko-shop", "version": shop.__version__,
                "uptime_seconds": round(self.uptime, 1), "services": list(BACKENDS)}

    # --- helpers -----------------------------------------------------------------

    def _cache(self) -> ResponseCache:
        return ResponseCache(
            self.redis, self.settings.cache_ttl_seconds, enabled=self.settings.cache_enabled)

    def _cached(self, request: Request, kind: str, resource_id: str,
                fetch: Callable[[], dict[str, Any]]) -> Response:
        key = canonical_id(resource_id)
        if key is None:  # cannot name anything: let the service say 404
            return respond_with_etag(request, to_json(fetch()), "MISS")
        return self._cache().serve(request, kind, key, fetch)

    def _forget(self, kind: str, resource_id: str) -> None:
        """Drops a resource's cached copy, and its kind's listings; raises RedisError."""
        cache = self._cache()
        cache.invalidate(kind, resource_id)
        if kind in LISTED_KINDS:
            cache.invalidate_listings(kind)

    def _invalidate_now(self, kind: str, resource_id: str) -> None:
        """Drops a changed resource (and its kind's listings) before answering the write,
        so the writer's next read is fresh; the service's event does the same for writes
        made elsewhere."""
        key = canonical_id(resource_id)
        if key is None:
            return
        try:
            self._forget(kind, key)
        except RedisError as error:
            log.warning("could not invalidate %s %s now: %s", kind, key, error)

    def _change_user(self, request: Request, user_id: str, actor: dict[str, Any]) -> Reply:
        changes = json_body(request)
        user, replayed = self._write(request, self.rpc.users.update_user, user_id, changes,
                                     actor=actor)
        self._invalidate_now("user", user["id"])
        # The writer's next request already sees it; the event tells everyone else.
        self._record_now(user["id"], change_of({**user, "changed": list(changes)}))
        return 200, replayed, user

    def _delete_user(self, request: Request, user_id: str, actor: dict[str, Any]) -> Reply:
        _, replayed = self._write(request, self.rpc.users.delete_user, user_id, actor=actor)
        self._invalidate_now("user", user_id)
        self._record_now(user_id, AccountChange(DELETED))
        return 204, replayed, None

    def _write(self, request: Request, call: Callable[..., Any], *args: Any,
               **kwargs: Any) -> tuple[Any, dict[str, str]]:
        """Calls a service's write, under the request's Idempotency-Key when it has one:
        (the answer, the headers that say whether it is a replay)."""
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return call(*args, **kwargs), {}
        written = call(*args, idempotency_key=key,
                       client=request.environ.get(CLIENT_KEY, request.remote_addr), **kwargs)
        return written["answer"], replayed_header(written["replayed"])

    def _accounts(self) -> Accounts:
        return Accounts(self.redis, self.tokens, self.account_changes)

    def _record_now(self, user_id: str, change: AccountChange | None) -> None:
        """Applies an account change this gateway made, before answering the write."""
        if change is None:
            return
        try:
            self._accounts().record(user_id, change)
        except RedisError as error:  # this process has it; the event brings it to Redis
            log.warning("could not record the change of account %s now: %s", user_id, error)

    def _actor(self, request: Request) -> dict[str, Any]:
        return actor_from_request(request, self._accounts())

    @staticmethod
    def _send_probe(probes: ServicesProxy, service_name: str) -> DeadlineReply | ShopError:
        try:
            reply: DeadlineReply = getattr(probes, service_name).health.call_async()
            return reply
        except ShopError as error:  # no instance of the service is running
            return error

    @staticmethod
    def _probe_result(reply: DeadlineReply | ShopError, started: float) -> dict[str, Any]:
        try:
            if isinstance(reply, ShopError):
                raise reply
            reply.result()
        except ShopError as error:
            return {"status": "down", "error": error.code}
        except RemoteError as error:  # the service answered, but its check failed
            return {"status": "down", "error": error.exc_type}
        return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 1)}
