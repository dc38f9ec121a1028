"""Who is calling: bearer tokens verified locally, and the marks of revoked users in Redis."""

from __future__ import annotations

import logging

from redis import Redis, RedisError
from werkzeug.wrappers import Request

from shop.errors import ServiceUnavailable, Unauthorized
from shop.tokens import Tokens

log = logging.getLogger(__name__)
REVOKED_KEY = "revoked-user:{}"


class Revocations:
    """Users whose tokens must stop working before they expire (deleted users)."""

    def __init__(self, redis: Redis, tokens: Tokens):
        self.redis = redis
        self.tokens = tokens

    def revoke(self, user_id: str) -> None:
        # Kept as long as any token issued before now can still be valid.
        self.redis.set(REVOKED_KEY.format(user_id), "1", ex=self.tokens.lifetime + 60)

    def is_revoked(self, user_id: str) -> bool:
        try:
            return bool(self.redis.exists(REVOKED_KEY.format(user_id)))
        except RedisError as error:
            # Failing closed: a token we cannot check is not accepted.
            log.warning("cannot check token revocation: %s", error)
            raise ServiceUnavailable("Sign-in state cannot be checked right now.") from None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
    return token.strip()


def actor_from_request(request: Request, revocations: Revocations,
                       required: bool = True) -> dict | None:
    """The caller as {"id", "role"}; None when anonymous is allowed and no token was sent."""
    token = bearer_token(request)
    if token is None:
        if required:
            raise Unauthorized("Sign in first: this route needs a bearer token.")
        return None
    claims = revocations.tokens.verify(token)
    if revocations.is_revoked(claims["sub"]):
        raise Unauthorized("The token is no longer valid.")
    return {"id": claims["sub"], "role": claims["role"]}
