"""The gateway's Redis client: nameko-redis with short timeouts, so a dead Redis costs little."""

from __future__ import annotations

import nameko_redis


class Redis(nameko_redis.Redis):
    """nameko-redis whose commands give up after REDIS_TIMEOUT_SECONDS."""

    def setup(self) -> None:
        super().setup()
        timeout = float(self.container.config.get("REDIS_TIMEOUT_SECONDS", 0.5))
        self.options.update(socket_timeout=timeout, socket_connect_timeout=timeout)
