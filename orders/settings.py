"""The orders service's settings (config.yml holds their defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.settings import Settings, at_least


@dataclass(frozen=True)
class OrdersSettings(Settings):
    stock_release_retry_seconds: float = field(metadata=at_least(0.1))
    order_pending_seconds: float = field(metadata=at_least(1))
