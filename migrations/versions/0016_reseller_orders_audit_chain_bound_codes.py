"""API orders need no user (orders.buyer_id, entitlements.owner_id nullable)

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-06 19:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders') as batch:
        batch.alter_column('buyer_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('entitlements') as batch:
        batch.alter_column('owner_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    with op.batch_alter_table('entitlements') as batch:
        batch.alter_column('owner_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('orders') as batch:
        batch.alter_column('buyer_id', existing_type=sa.Integer(), nullable=False)
