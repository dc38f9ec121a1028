"""The notifications service's settings (config.yml holds their defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.settings import Settings, at_least, one_of


@dataclass(frozen=True)
class NotificationsSettings(Settings):
    notification_sender: str = field(metadata=one_of("log", "smtp"))
    smtp_host: str
    smtp_port: int = field(metadata=at_least(1, 65535))
    smtp_from: str
    smtp_timeout_seconds: float = field(metadata=at_least(0.001))
    delivery_retry_seconds: float = field(metadata=at_least(0.1))
    delivery_backoff_seconds: float = field(metadata=at_least(0))
