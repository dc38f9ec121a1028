"""Alembic's entry for the users service's migrations (see shop/migrate.py)."""

from shop.migrate import run_migrations
from users.models import Base

run_migrations(Base.metadata)
