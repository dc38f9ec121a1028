"""The gateway's routes. Run with `nameko run --config config.yml gateway.service`.

Each route authenticates, calls the owning service over RPC (with a deadline) and maps
the answer; the business rules live in the services.
"""

from __future__ import annotations

import time

import eventlet
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from redis import RedisError
from werkzeug.wrappers import Request

import shop
from gateway.auth import Revocations, actor_from_request
from gateway.http import route
from gateway.payloads import json_body, location
from gateway.redis import Redis
from shop.context import RequestContext
from shop.errors import ShopError
from shop.rpc import DeadlineRpc
from shop.tokens import TokenService

# The services behind the gateway, probed by /health/services.
BACKENDS = ("users",)
HEALTH_TIMEOUT_SECONDS = 2.0
REDIS_RETRY_DELAY_SECONDS = 1.0


class StartTime(DependencyProvider):
    """Seconds since this gateway process started."""

    def start(self) -> None:
        self.started = time.monotonic()

    def get_dependency(self, worker_ctx) -> float:
        return time.monotonic() - self.started


class GatewayService:
    name = "gateway"

    rpc = DeadlineRpc()
    redis = Redis("default")
    tokens = TokenService()
    uptime = StartTime()
    request_id = RequestContext()

    # --- sign-in and users -------------------------------------------------------

    @route("POST", "/signin")
    def sign_in(self, request: Request):
        return self.rpc.users.sign_in(json_body(request))

    @route("POST", "/users")
    def create_user(self, request: Request):
        user = self.rpc.users.create_user(json_body(request))
        return 201, location(request, f"/users/{user['id']}"), user

    @route("GET", "/users")
    def list_users(self, request: Request):
        return self.rpc.users.list_users(
            page=request.args.get("page", 1), limit=request.args.get("limit", 20))

    @route("GET", "/users/me")
    def get_me(self, request: Request):
        actor = self._actor(request)
        return self.rpc.users.get_user(actor["id"], actor=actor)

    @route("GET", "/users/<string:user_id>")
    def get_user(self, request: Request, user_id: str):
        return self.rpc.users.get_user(user_id, actor=self._actor(request, required=False))

    @route("PATCH", "/users/<string:user_id>")
    def update_user(self, request: Request, user_id: str):
        actor = self._actor(request)
        return self.rpc.users.update_user(user_id, json_body(request), actor=actor)

    @route("DELETE", "/users/<string:user_id>")
    def delete_user(self, request: Request, user_id: str):
        self.rpc.users.delete_user(user_id, actor=self._actor(request))
        return 204, None

    @event_handler("users", "user_deleted", requeue_on_error=True)
    def revoke_deleted_user(self, payload: dict) -> None:
        """A deleted user's tokens stop working at once, in every gateway replica."""
        try:
            self._revocations().revoke(payload["id"])
        except RedisError:
            # Requeued until Redis is back; the pause keeps the retry from spinning.
            eventlet.sleep(REDIS_RETRY_DELAY_SECONDS)
            raise

    # --- the gateway itself ------------------------------------------------------

    @route("GET", "/health")
    def health(self, request: Request):
        return {"status": "ok"}

    @route("GET", "/health/services")
    def health_of_services(self, request: Request):
        probes = self.rpc.with_timeout(HEALTH_TIMEOUT_SECONDS)
        started = time.monotonic()
        replies = {name: self._send_probe(probes, name) for name in BACKENDS}
        services = {name: self._probe_result(reply, started) for name, reply in replies.items()}
        healthy = all(service["status"] == "ok" for service in services.values())
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded",
                                           "services": services}

    @route("GET", "/info")
    def info(self, request: Request):
        return {"name": "nameko-shop", "version": shop.__version__,
                "uptime_seconds": round(self.uptime, 1), "services": list(BACKENDS)}

    # --- helpers -----------------------------------------------------------------

    def _revocations(self) -> Revocations:
        return Revocations(self.redis, self.tokens)

    def _actor(self, request: Request, required: bool = True) -> dict | None:
        return actor_from_request(request, self._revocations(), required)

    @staticmethod
    def _send_probe(probes, service_name: str):
        try:
            return getattr(probes, service_name).health.call_async()
        except ShopError as error:  # no instance of the service is running
            return error

    @staticmethod
    def _probe_result(reply, started: float) -> dict:
        try:
            if isinstance(reply, ShopError):
                raise reply
            reply.result()
        except ShopError as error:
            return {"status": "down", "error": error.code}
        except RemoteError as error:  # the service answered, but its check failed
            return {"status": "down", "error": error.exc_type}
        return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 1)}
