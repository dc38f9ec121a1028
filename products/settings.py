"""The products service's settings (config.yml holds their defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shop.settings import Settings, at_least


@dataclass(frozen=True)
class ProductsSettings(Settings):
    stock_low_threshold: int = field(metadata=at_least(0))
