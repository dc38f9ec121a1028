"""The health check every service with a database answers (GET /health/services asks it)."""

from sqlalchemy import text

from shop.base import ShopService
from shop.entrypoints import rpc


class DatabaseHealth(ShopService):
    """Mixin for a service class whose `db` is a Database.

    Subclass it as `health.DatabaseHealth`: `nameko run <module>` would take the class,
    imported by name, for a service of its own.
    """

    @rpc
    def health(self) -> dict:
        """Reports that this instance is up and its database answers."""
        self.db.session.execute(text("SELECT 1"))
        return {"status": "ok"}
