"""Room for password hashes of a SHA-256 of the password (users/passwords.py).

Revision ID: 5d2c81a0f3e4
Revises: 0cdbb7bedc30
Created: 2026-11-22 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '5d2c81a0f3e4'
down_revision = '0cdbb7bedc30'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('password_hash', existing_type=sa.String(length=60),
                              type_=sa.String(length=100), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('password_hash', existing_type=sa.String(length=100),
                              type_=sa.String(length=60), existing_nullable=False)
