"""Alembic's entry for the products service's migrations (see shop/migrate.py)."""

from products.models import Base
from shop.migrate import run_migrations

run_migrations(Base.metadata)
