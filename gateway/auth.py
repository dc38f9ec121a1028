"""Who is calling: bearer tokens verified locally, and the users whose tokens are revoked.

A deleted user's tokens must stop working before they expire. Every gateway process
hears of each deletion (a broadcast event) and remembers it; Redis keeps the same marks
for processes started later. So Redis being down weakens nothing this process has seen.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from redis import Redis, RedisError
from werkzeug.wrappers import Request

from gateway.raw import AnyRequest
from shop.errors import Unauthorized
from shop.tokens import Tokens

log = logging.getLogger(__name__)
REVOKED_KEY = "revoked-user:{}"


class RecentRevocations:
    """Users revoked while this process ran, each kept while its tokens could be valid."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def add(self, user_id: str, seconds: float) -> None:
        now = time.monotonic()
        self._until = {uid: until for uid, until in self._until.items() if until > now}
        self._until[user_id] = now + seconds

    def __contains__(self, user_id: str) -> bool:
        return self._until.get(user_id, 0) > time.monotonic()


class RevokedUsers(DependencyProvider):
    """Gives workers this process's RecentRevocations."""

    def setup(self) -> None:
        self.recent = RecentRevocations()

    def get_dependency(self, worker_ctx: WorkerContext) -> RecentRevocations:
        return self.recent


class Revocations:
    def __init__(self, redis: Redis, tokens: Tokens, recent: RecentRevocations):
        self.redis = redis
        self.tokens = tokens
        self.recent = recent

    @property
    def ttl_seconds(self) -> int:
        # As long as any token issued before the revocation can still be valid.
        return self.tokens.lifetime + 60

    def remember(self, user_id: str) -> None:
        self.recent.add(user_id, self.ttl_seconds)

    def revoke(self, user_id: str) -> None:
        """Marks user_id in Redis for every gateway; raises RedisError if Redis is down."""
        self.redis.set(REVOKED_KEY.format(user_id), "1", ex=self.ttl_seconds)

    def is_revoked(self, user_id: str) -> bool:
        if user_id in self.recent:
            return True
        try:
            return bool(self.redis.exists(REVOKED_KEY.format(user_id)))
        except RedisError as error:
            log.warning("cannot read revocations from Redis, using this process's: %s", error)
            return False


def bearer_token(request: AnyRequest) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
    return token.strip()


def actor_from_request(request: Request, revocations: Revocations) -> dict[str, Any]:
    """The caller as {"id", "role"}: Unauthorized without a valid token."""
    actor = viewer_from_request(request, revocations)
    if actor is None:
        raise Unauthorized("Sign in first: this route needs a bearer token.")
    return actor


def viewer_from_request(request: Request, revocations: Revocations) -> dict[str, Any] | None:
    """The caller as {"id", "role"}, or None when no token was sent (anonymous)."""
    token = bearer_token(request)
    if token is None:
        return None
    claims = revocations.tokens.verify(token)
    if revocations.is_revoked(claims["sub"]):
        raise Unauthorized("The token is no longer valid.")
    return {"id": claims["sub"], "role": claims["role"]}
