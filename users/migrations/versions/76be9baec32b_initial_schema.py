"""The initial schema.

Revision ID: 76be9baec32b
Revises: 
Created: 2026-11-21 12:21:51.864474
"""

import sqlalchemy as sa
from alembic import op

revision = '76be9baec32b'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    # Names are unique whatever their case (autogenerate cannot see expression indexes).
    op.create_index('uq_users_name_lower', 'users', [sa.text('lower(name)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_users_name_lower', table_name='users')
    op.drop_table('users')
