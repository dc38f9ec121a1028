"""Stock taken in one step: no held reservations, so no expiry.

A reservation is now `taken` (the order stands) or `released`. Committed reservations
become taken. Upgrade with the orders service stopped: a reservation still `held` then
belonged to a placement the old orders service can no longer confirm, so it is released
here and its stock given back.

Revision ID: 16c6972089f0
Revises: 9f33e4fe14a5
Created: 2026-11-22 15:38:01.064218
"""

import sqlalchemy as sa
from alembic import op

revision = '16c6972089f0'
down_revision = '9f33e4fe14a5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        UPDATE products SET stock = stock + (
            SELECT COALESCE(SUM(i.quantity), 0) FROM reservation_items i
            JOIN reservations r ON r.order_id = i.order_id
            WHERE r.status = 'held' AND i.product_id = products.id)
    """)
    op.execute("UPDATE reservations SET status = 'released' WHERE status = 'held'")
    op.execute("UPDATE reservations SET status = 'taken' WHERE status = 'committed'")
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservations_expires_at'))
        batch_op.drop_column('expires_at')


def downgrade() -> None:
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=False,
                                      server_default=sa.func.now()))
        batch_op.create_index(batch_op.f('ix_reservations_expires_at'), ['expires_at'],
                              unique=False)
    op.execute("UPDATE reservations SET status = 'committed' WHERE status = 'taken'")
