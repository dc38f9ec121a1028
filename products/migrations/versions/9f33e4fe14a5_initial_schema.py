"""The initial schema.

Revision ID: 9f33e4fe14a5
Revises: 
Created: 2026-11-21 12:21:51.927977
"""

import sqlalchemy as sa
from alembic import op

revision = '9f33e4fe14a5'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('products',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('price_cents > 0', name='ck_products_price_positive'),
    sa.CheckConstraint('stock >= 0', name='ck_products_stock_not_negative'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)
        batch_op.create_index('ix_products_price', ['price_cents'], unique=False)

    op.create_table('reservations',
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservations_expires_at'), ['expires_at'], unique=False)

    op.create_table('reservation_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('product_id', sa.String(length=36), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['reservations.order_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reservation_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservation_items_product_id'), ['product_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reservation_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservation_items_product_id'))

    op.drop_table('reservation_items')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservations_expires_at'))

    op.drop_table('reservations')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_price')
        batch_op.drop_index(batch_op.f('ix_products_category'))

    op.drop_table('products')
