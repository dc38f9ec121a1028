"""Alembic's entry for the posts service's migrations (see shop/migrate.py)."""

from posts.models import Base
from shop.migrate import run_migrations

run_migrations(Base.metadata)
