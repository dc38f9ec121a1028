"""Timers whose interval is a setting, read at start-up like every setting."""

from typing import Any

from nameko.timer import Timer

from shop.settings import Settings, settings_of


class ConfiguredTimer(Timer):
    """A nameko @timer whose interval is the named field of the service's settings."""

    def __init__(self, kind: type[Settings], field: str, **kwargs: Any) -> None:
        self.kind = kind
        self.field = field
        super().__init__(interval=0, **kwargs)  # the real interval is read in setup()

    def setup(self) -> None:
        self.interval: float = float(getattr(settings_of(self.container, self.kind), self.field))
        super().setup()


every = ConfiguredTimer.decorator
