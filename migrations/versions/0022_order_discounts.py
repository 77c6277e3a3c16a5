"""order discounts and campaigns: marketing's first table (campaigns) and what marketing took off a retail order (orders.discount_fen, the order's total; deliveries.
discount_fen, each unit's share of it, booked to sales discounts when the unit's revenue is recognised).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 01:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False, server_default=''),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=False),
        sa.Column('stackable', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_campaigns_window_ordered')),
    )
    op.create_table(
        'order_promotions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=True),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('ref_id', sa.Integer(), nullable=True),
        sa.Column('discount_fen', sa.BigInteger(), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False, server_default=''),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_order_promotions_order_id', 'order_promotions', ['order_id'])
    op.create_index('ix_order_promotions_campaign', 'order_promotions', ['campaign_id', 'order_id'])
    for table in ('orders', 'deliveries'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('discount_fen', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade():
    op.drop_table('order_promotions')
    op.drop_table('campaigns')
    for table in ('orders', 'deliveries'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('discount_fen')
