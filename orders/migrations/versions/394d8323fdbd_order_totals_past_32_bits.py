"""Order totals past 32 bits: 50 lines of up to 1000 at up to 1 000 000.00 each.

Revision ID: 394d8323fdbd
Revises: 52e0bf3796f4
Created: 2026-11-22 22:43:16.478679
"""

import sqlalchemy as sa
from alembic import op

revision = '394d8323fdbd'
down_revision = '52e0bf3796f4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('total_cents',
               existing_type=sa.INTEGER(),
               type_=sa.BigInteger(),
               existing_nullable=False)



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('total_cents',
               existing_type=sa.BigInteger(),
               type_=sa.INTEGER(),
               existing_nullable=False)

