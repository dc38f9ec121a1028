"""Timers whose interval comes from the config, read at start-up like every setting."""

from typing import Any

from nameko.timer import Timer


class ConfiguredTimer(Timer):
    """A nameko @timer whose interval is config[key] (default: the interval given)."""

    def __init__(self, key: str, default_interval: float, **kwargs: Any) -> None:
        self.key = key
        super().__init__(default_interval, **kwargs)

    def setup(self) -> None:
        self.interval: float = float(self.container.config.get(self.key, self.interval))
        super().setup()


every = ConfiguredTimer.decorator
