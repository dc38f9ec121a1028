"""Alembic's entry for the notifications service's migrations (see shop/migrate.py)."""

from notifications.models import Base
from shop.migrate import run_migrations

run_migrations(Base.metadata)
