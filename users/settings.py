"""The users service's settings (config.yml holds their defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.settings import Settings, at_least


@dataclass(frozen=True)
class UsersSettings(Settings):
    # bcrypt's cost: 2^rounds hashing steps per password check.
    bcrypt_rounds: int = field(metadata=at_least(4, 31))
