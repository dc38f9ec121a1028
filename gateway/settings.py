"""The gateway's settings (config.yml holds their defaults and says what each is for)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.settings import Settings, at_least


@dataclass(frozen=True)
class GatewaySettings(Settings):
    amqp_uri: str  # the dead-letter gauge reads the queues' depths from the broker
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
    # Addresses or CIDRs of the proxies whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: tuple[str, ...]
    cors_origins: tuple[str, ...]
    cors_allow_credentials: bool
    shutdown_drain_seconds: float = field(metadata=at_least(0))
    # A client's time to send a request's head, its body, and the next request on a
    # kept-alive connection; open connections per client address and in all.
    http_header_timeout_seconds: float = field(metadata=at_least(0.1))
    http_body_timeout_seconds: float = field(metadata=at_least(0.1))
    http_idle_seconds: float = field(metadata=at_least(0.1))
    http_max_connections: int = field(metadata=at_least(1))
    http_max_connections_per_client: int = field(metadata=at_least(1))
