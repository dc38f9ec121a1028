"""The health check every service with a database answers (GET /health/services asks it)."""

from typing import Any

from sqlalchemy import text

from shop.base import ShopService
from shop.database import Database
from shop.entrypoints import rpc


class DatabaseHealth(ShopService):
    """Base class for a service whose `db` is a Database."""

    db: Database

    @rpc
    def health(self) -> dict[str, Any]:
        """Reports that this instance is up and its database answers."""
        self.db.session.execute(text("SELECT 1"))
        return {"status": "ok"}
