"""Answers to writes sent with an Idempotency-Key, kept with the write (shop/idempotency.py).

Revision ID: b0ffca5bc144
Revises: 687061b4eb6f
Created: 2026-11-22 22:31:50.627290
"""

import sqlalchemy as sa
from alembic import op

revision = 'b0ffca5bc144'
down_revision = '687061b4eb6f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotent_answers',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key')
    )
    with op.batch_alter_table('idempotent_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotent_answers_created_at'), ['created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('idempotent_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotent_answers_created_at'))

    op.drop_table('idempotent_answers')
