"""Signed access tokens (JWT): issued by the users service, verified by the gateway."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from nameko.containers import WorkerContext
from nameko.exceptions import ConfigurationError
from nameko.extensions import DependencyProvider

from shop.errors import Unauthorized

ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_SECRET_BYTES = 32
MIN_DISTINCT_CHARACTERS = 10
PLACEHOLDERS = ("change", "secret", "example", "default", "password", "xxxx")


@dataclass(frozen=True)
class Tokens:
    """Issues and verifies tokens with one pinned algorithm, issuer and audience."""

    secret: str
    algorithm: str
    issuer: str
    audience: str
    lifetime: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Tokens:
        algorithm = config.get("JWT_ALGORITHM", "HS256")
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        secret = _read_secret(config)
        weakness = secret_weakness(secret)
        if weakness and not config.get("ALLOW_WEAK_JWT_SECRET"):
            raise ConfigurationError(
                f"JWT_SECRET is weak: {weakness}. Use a random one, e.g. "
                "`openssl rand -base64 48` (ALLOW_WEAK_JWT_SECRET=true allows it for development).")
        lifetime = int(config.get("JWT_LIFETIME_SECONDS", 3600))
        if lifetime <= 0:
            raise ConfigurationError("JWT_LIFETIME_SECONDS must be positive")
        return cls(
            secret=secret,
            algorithm=algorithm,
            issuer=str(config.get("JWT_ISSUER", "nameko-shop")),
            audience=str(config.get("JWT_AUDIENCE", "nameko-shop-api")),
            lifetime=lifetime,
        )

    def issue(self, user_id: str, role: str) -> str:
        now = time.time()
        # iat to the millisecond (JWT allows fractions): the gateway refuses tokens issued
        # before a password change, and a sign-in right after one must not look older.
        claims = {
            "sub": user_id, "role": role, "iat": round(now, 3),
            "exp": int(now) + self.lifetime,
            "iss": self.issuer, "aud": self.audience,
        }
        return jwt.encode(claims, self.secret, algorithm=self.algorithm)

    def verify(self, token: str) -> dict[str, Any]:
        """Returns the claims of a valid token; raises Unauthorized for any other."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[self.algorithm], audience=self.audience,
                issuer=self.issuer, options={"require": ["sub", "role", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is not valid.") from None
        if not isinstance(claims["sub"], str) or claims["role"] not in ("user", "admin"):
            raise Unauthorized("The token is not valid.")
        return claims


def secret_weakness(secret: str) -> str | None:
    """Why secret is too weak to sign tokens with, or None."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return f"fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    if any(word in secret.lower() for word in PLACEHOLDERS):
        return "it looks like a placeholder"
    return None


def _read_secret(config: dict[str, Any]) -> str:
    secret = config.get("JWT_SECRET") or ""
    if secret:
        return str(secret)
    if config.get("APP_ENV") == "production":
        raise ConfigurationError("APP_ENV is production: set JWT_SECRET (no generated file).")
    path = config.get("JWT_SECRET_FILE")
    if path and Path(path).is_file():
        return Path(path).read_text().strip()
    raise ConfigurationError(
        "No JWT secret: set JWT_SECRET, or JWT_SECRET_FILE to a file holding one "
        "(`make run` generates .run/jwt_secret)."
    )


class TokenService(DependencyProvider):
    """Gives a worker the Tokens built from the container's config at start-up."""

    def setup(self) -> None:
        self.tokens = Tokens.from_config(self.container.config)

    def get_dependency(self, worker_ctx: WorkerContext) -> Tokens:
        return self.tokens
