"""One line per product in an order: a replay that finishes the same order adds none.

Orders have always merged lines per product, so existing rows already comply.

Revision ID: c00c87fb4a81
Revises: d42754f45e8f
Created: 2026-11-22 15:44:33.809804
"""

from alembic import op

revision = 'c00c87fb4a81'
down_revision = 'd42754f45e8f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_order_items_order_product', ['order_id', 'product_id'])


def downgrade() -> None:
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_constraint('uq_order_items_order_product', type_='unique')
