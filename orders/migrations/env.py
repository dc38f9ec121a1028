"""Alembic's entry for the orders service's migrations (see shop/migrate.py)."""

from orders.models import Base
from shop.migrate import run_migrations

run_migrations(Base.metadata)
