"""The gateway's settings (config.yml holds their defaults and says what each is for)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.settings import Settings, at_least


@dataclass(frozen=True)
class GatewaySettings(Settings):
    amqp_uri: str  # /metrics reads the dead-letter queues' depths from the broker
    max_body_bytes: int = field(metadata=at_least(1))
    redis_timeout_seconds: float = field(metadata=at_least(0.001))
    # "host:port,host:port": Redis is the master these Sentinels name, not REDIS_URI's host.
    redis_sentinels: tuple[str, ...]
    redis_sentinel_master: str
    redis_sentinel_password: str
    cache_enabled: bool
    cache_ttl_seconds: int = field(metadata=at_least(1))
    rate_limit_enabled: bool
    rate_limit_max: int = field(metadata=at_least(1))
    rate_limit_window_seconds: float = field(metadata=at_least(0.001))
    signin_rate_limit_max: int = field(metadata=at_least(1))
    signin_rate_limit_window_seconds: float = field(metadata=at_least(0.001))
    trust_proxy: int = field(metadata=at_least(0))
    cors_origins: tuple[str, ...]
    cors_allow_credentials: bool
    shutdown_drain_seconds: float = field(metadata=at_least(0))
