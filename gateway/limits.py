"""Rate limits in Redis: fixed windows per client, counted atomically in one round trip.

The client is the signed-in user when the request carries a valid token, else its IP
address (the forwarded one only from TRUSTED_PROXIES). Sign-in and sign-up
also count against a stricter per-IP window, against password guessing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from nameko.exceptions import ConfigurationError
from redis import RedisError

from gateway.access import USER_KEY
from gateway.auth import bearer_token
from gateway.cache import ListingEntry
from gateway.proxies import TrustedProxies
from gateway.raw import AnyRequest
from gateway.redis import LuaScript, RoundTrips
from gateway.settings import GatewaySettings
from shop.errors import Unauthorized
from shop.tokens import Tokens

log = logging.getLogger(__name__)

# The first ARGV[1] keys are windows: count this hit, and the first hit of a window
# starts its expiry; returns count and milliseconds left per window. A key after the
# windows is a cache entry read in the same round trip (false when absent); for a
# listing it names the namespace, and two more ARGV give the entry's prefix and query.
_HIT = LuaScript("""
local windows = tonumber(ARGV[1])
local result = {}
for i = 1, windows do
  local count = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[i + 1])
    ttl = tonumber(ARGV[i + 1])
  end
  result[#result + 1] = count
  result[#result + 1] = ttl
end
if #KEYS > windows then
  local key = KEYS[#KEYS]
  if ARGV[windows + 2] then
    key = ARGV[windows + 2] .. (redis.call('GET', key) or '0') .. ':' .. ARGV[windows + 3]
  end
  result[#result + 1] = redis.call('GET', key)
end
return result
""")


@dataclass(frozen=True)
class Limit:
    name: str
    maximum: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.maximum < 1 or self.window_seconds <= 0:
            raise ConfigurationError(f"rate limit {self.name}: maximum and window must be > 0")


@dataclass(frozen=True)
class Verdict:
    limit: Limit
    count: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit.maximum

    @property
    def remaining(self) -> int:
        return max(self.limit.maximum - self.count, 0)

    def headers(self) -> dict[str, Any]:
        headers = {"RateLimit-Limit": str(self.limit.maximum),
                   "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class RateLimiter:
    def __init__(self, general: Limit, sign_in: Limit, trusted_proxies: TrustedProxies,
                 guarded_paths: frozenset[str]):
        self.general = general
        self.sign_in = sign_in
        self.trusted_proxies = trusted_proxies
        self.guarded_paths = guarded_paths

    @classmethod
    def from_settings(cls, settings: GatewaySettings, guarded_paths: frozenset[str],
                      trusted_proxies: TrustedProxies) -> RateLimiter:
        return cls(
            Limit("general", settings.rate_limit_max, settings.rate_limit_window_seconds),
            Limit("sign-in", settings.signin_rate_limit_max,
                  settings.signin_rate_limit_window_seconds),
            trusted_proxies=trusted_proxies,
            guarded_paths=guarded_paths,
        )

    def client_ip(self, request: AnyRequest) -> str:
        return self.trusted_proxies.client(request)

    def client_key(self, request: AnyRequest, tokens: Tokens) -> str:
        try:
            token = bearer_token(request)
            if token is not None:
                user_id = str(tokens.verify(token)["sub"])
                request.environ[USER_KEY] = user_id  # for the access log line
                return "user:" + user_id
        except Unauthorized:
            pass  # limited by address; the route itself answers 401
        return "ip:" + self.client_ip(request)

    def check(self, redis: RoundTrips, request: AnyRequest, tokens: Tokens,
              also_read: str | ListingEntry | None = None) -> tuple[Verdict | None, str | None]:
        """Counts this request: the verdict of its tightest window (None without Redis),
        and the body cached at also_read (a key or a listing), fetched in the same round
        trip."""
        windows = [(self.general, f"rate:general:{self.client_key(request, tokens)}")]
        if request.method == "POST" and request.path in self.guarded_paths:
            windows.append((self.sign_in, f"rate:sign-in:{self.client_ip(request)}"))
        keys = [key for _, key in windows]
        args: list[int | str] = [len(windows),
                                 *[int(limit.window_seconds * 1000) for limit, _ in windows]]
        if isinstance(also_read, ListingEntry):
            keys.append(also_read.namespace_key)
            args += [also_read.prefix, also_read.query]
        elif also_read:
            keys.append(also_read)
        try:
            reply = redis.run_script(_HIT, keys, args)
        except RedisError as error:
            log.warning("rate limits unavailable, letting the request through: %s", error)
            return None, None
        verdicts = [Verdict(limit, int(reply[2 * i]), math.ceil(int(reply[2 * i + 1]) / 1000))
                    for i, (limit, _) in enumerate(windows)]
        cached = reply[2 * len(windows)] if also_read and len(reply) > 2 * len(windows) else None
        denied = [verdict for verdict in verdicts if not verdict.allowed]
        if denied:
            return max(denied, key=lambda verdict: verdict.reset_seconds), cached
        return min(verdicts, key=lambda verdict: verdict.remaining), cached
