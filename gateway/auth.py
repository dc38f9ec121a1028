"""Who is calling: bearer tokens verified locally, and kept true to the account.

A token says who signed in and with which role, until it expires. The account can
change before that: a token issued before the user's last password change, or before the
account was deleted, is refused (401); after a role change the token acts with the
current role (a demoted admin is a user: 403 on admin routes). The gateway learns of
these changes when it makes them (PATCH and DELETE /users/...) and from the users
service's events, made by any gateway or from `nameko shell`.

Each change is kept twice, for as long as a token issued before it could still be valid:
in Redis (`account:<user id>`, shared by every gateway process, read in the same check as
the token) and in the memory of every gateway process (a broadcast event). With Redis out
of reach a process still applies every change it has heard of; one started during the
outage applies those it hears of from then on.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from redis import Redis, RedisError
from werkzeug.wrappers import Request

from gateway.access import USER_KEY
from gateway.raw import AnyRequest
from shop.errors import Unauthorized
from shop.tokens import Tokens

log = logging.getLogger(__name__)
ACCOUNT_KEY = "account:{}"
DELETED = math.inf  # no token is issued after it


@dataclass(frozen=True)
class AccountChange:
    """What tokens of one user must follow: refused if issued before valid_after (epoch
    seconds; DELETED for a deleted account), acting with role when it is known."""

    valid_after: float = 0.0
    role: str | None = None
    # When the role was set (epoch seconds): events may arrive out of order (a retried
    # delivery, a PATCH recorded before the event of an earlier one), and an older role
    # must never override a newer one.
    role_at: float = 0.0

    def merged(self, other: AccountChange) -> AccountChange:
        """Both changes together: the latest valid-after instant, the latest role (other's
        on a tie)."""
        latest = other if other.role is not None and (
            self.role is None or other.role_at >= self.role_at) else self
        return AccountChange(max(self.valid_after, other.valid_after), latest.role,
                             latest.role_at)

    def applied_to(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The caller as {"id", "role"} by these claims; Unauthorized if they predate it."""
        if float(claims["iat"]) < self.valid_after:
            if self.valid_after == DELETED:
                raise Unauthorized("The token is no longer valid: the account was deleted.")
            raise Unauthorized("The token is no longer valid: the password was changed. "
                               "Sign in again.")
        return {"id": claims["sub"], "role": self.role or claims["role"]}


def change_of(payload: dict[str, Any]) -> AccountChange | None:
    """The change a user_updated event (or a PATCH's answer and body) makes to tokens."""
    changed = payload.get("changed", ())
    if "password" not in changed and "role" not in changed:
        return None
    changed_at = epoch_seconds(payload["updated_at"])
    if "role" not in changed:
        return AccountChange(changed_at)
    return AccountChange(changed_at if "password" in changed else 0.0, payload["role"],
                         changed_at)


def epoch_seconds(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


class RecentChanges:
    """Account changes heard of while this process ran, each kept while tokens issued
    before it could be valid."""

    def __init__(self) -> None:
        self._changes: dict[str, tuple[AccountChange, float]] = {}  # user id -> (change, until)

    def add(self, user_id: str, change: AccountChange, seconds: float) -> None:
        now = time.monotonic()
        self._changes = {uid: kept for uid, kept in self._changes.items() if kept[1] > now}
        earlier = self._changes.get(user_id, (AccountChange(), 0.0))[0]
        self._changes[user_id] = (earlier.merged(change), now + seconds)

    def get(self, user_id: str) -> AccountChange | None:
        kept = self._changes.get(user_id)
        return kept[0] if kept is not None and kept[1] > time.monotonic() else None


class RecentAccountChanges(DependencyProvider):
    """Gives workers this process's RecentChanges."""

    def setup(self) -> None:
        self.recent = RecentChanges()

    def get_dependency(self, worker_ctx: WorkerContext) -> RecentChanges:
        return self.recent


# Keeps the latest valid-after instant of an account, and its latest role (ARGV[2], set
# at ARGV[4]; an older one is ignored), for ARGV[3] seconds.
_RECORD = """
local current = tonumber(redis.call('HGET', KEYS[1], 'valid_after') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'valid_after', ARGV[1]) end
if ARGV[2] ~= '' then
  local role_at = tonumber(redis.call('HGET', KEYS[1], 'role_at') or '-1')
  if tonumber(ARGV[4]) >= role_at then
    redis.call('HSET', KEYS[1], 'role', ARGV[2], 'role_at', ARGV[4])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class Accounts:
    """Account changes as tokens must follow them: this process's, and Redis's."""

    def __init__(self, redis: Redis, tokens: Tokens, recent: RecentChanges):
        self.redis = redis
        self.tokens = tokens
        self.recent = recent

    @property
    def ttl_seconds(self) -> int:
        # As long as any token issued before the change can still be valid.
        return self.tokens.lifetime + 60

    def remember(self, user_id: str, change: AccountChange) -> None:
        """Applies the change in this process."""
        self.recent.add(user_id, change, self.ttl_seconds)

    def record(self, user_id: str, change: AccountChange) -> None:
        """Applies the change in this process and, for every gateway, in Redis; raises
        RedisError if Redis is down."""
        self.remember(user_id, change)
        valid_after = "inf" if change.valid_after == DELETED else repr(change.valid_after)
        self.redis.eval(_RECORD, 1, ACCOUNT_KEY.format(user_id), valid_after,
                        change.role or "", self.ttl_seconds, repr(change.role_at))

    def change_for(self, user_id: str) -> AccountChange:
        """Every change known for user_id: this process's and Redis's together."""
        known = self.recent.get(user_id) or AccountChange()
        try:
            stored = self.redis.hmget(ACCOUNT_KEY.format(user_id), "valid_after", "role",
                                      "role_at")
        except RedisError as error:
            log.warning("cannot read account changes from Redis, using this process's: %s",
                        error)
            return known
        valid_after, role, role_at = cast(list[str | None], stored)  # decoded replies
        return known.merged(AccountChange(float(valid_after or 0), role, float(role_at or 0)))

    def actor(self, claims: dict[str, Any]) -> dict[str, Any]:
        return self.change_for(claims["sub"]).applied_to(claims)


def bearer_token(request: AnyRequest) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
    return token.strip()


def actor_from_request(request: Request, accounts: Accounts) -> dict[str, Any]:
    """The caller as {"id", "role"}: Unauthorized without a valid token."""
    actor = viewer_from_request(request, accounts)
    if actor is None:
        raise Unauthorized("Sign in first: this route needs a bearer token.")
    return actor


def viewer_from_request(request: Request, accounts: Accounts) -> dict[str, Any] | None:
    """The caller as {"id", "role"}, or None when no token was sent (anonymous)."""
    token = bearer_token(request)
    if token is None:
        return None
    claims = accounts.tokens.verify(token)
    request.environ[USER_KEY] = str(claims["sub"])  # for the access log line
    return accounts.actor(claims)
