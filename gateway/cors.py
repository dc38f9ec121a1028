"""Cross-origin requests from browsers: which origins may call the API, and preflights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nameko.exceptions import ConfigurationError

ALLOWED_HEADERS = ("Authorization, Content-Type, If-None-Match, Idempotency-Key, X-Request-ID, "
                   "X-Correlation-ID")
EXPOSED_HEADERS = ("ETag, Location, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
                   "Retry-After, X-Cache, X-Correlation-ID, X-Request-ID")
PREFLIGHT_MAX_AGE_SECONDS = 600


@dataclass(frozen=True)
class CorsPolicy:
    origins: frozenset[str]
    allow_credentials: bool

    @classmethod
    def of(cls, origins: tuple[str, ...], allow_credentials: bool) -> CorsPolicy:
        """The policy for CORS_ORIGINS and CORS_ALLOW_CREDENTIALS."""
        allowed = frozenset(origin.strip().rstrip("/") for origin in origins if origin.strip())
        if "*" in allowed and allow_credentials:
            raise ConfigurationError("CORS_ORIGINS '*' cannot be used with credentials")
        return cls(allowed, allow_credentials)

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.origins or origin in self.origins)

    def response_headers(self, origin: str | None) -> dict[str, Any]:
        """Headers for an actual (non-preflight) response to origin: none if refused."""
        if not self.allows(origin):
            return {}
        headers = {"Access-Control-Allow-Origin": "*" if "*" in self.origins else origin,
                   "Access-Control-Expose-Headers": EXPOSED_HEADERS}
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight_headers(self, origin: str | None, requested_method: str,
                          allowed_methods: list[str]) -> dict[str, Any]:
        """Headers allowing a preflighted request; none if the origin or method is refused."""
        if requested_method.upper() not in allowed_methods:
            return {}
        headers = self.response_headers(origin)
        if headers:
            headers.update({"Access-Control-Allow-Methods": ", ".join(allowed_methods),
                            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS)})
        return headers
