"""Deleted products that orders refer to: kept for them, marked, gone for everything else.

Revision ID: a4c4624aa165
Revises: afa237b96982
Created: 2026-11-22 23:42:10.671971
"""

import sqlalchemy as sa
from alembic import op

revision = 'a4c4624aa165'
down_revision = 'afa237b96982'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

