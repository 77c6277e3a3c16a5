"""insight: daily sales roll-ups (day × channel × SKU), buyer-days, and the days rolled up; orders by paid_at.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_orders_paid_at', 'orders', ['paid_at'])
    op.create_table(
        'insight_daily_sales',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(20), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('brand_id', sa.Integer(), sa.ForeignKey('brands.id'), nullable=False),
        sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
        sa.Column('paid_orders', sa.Integer(), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('discount_fen', sa.BigInteger(), nullable=False),
        sa.Column('refund_fen', sa.BigInteger(), nullable=False),
        sa.Column('refunds', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'channel', 'sku_id'),
    )
    op.create_index('ix_insight_daily_sales_brand_id', 'insight_daily_sales', ['brand_id'])
    op.create_table(
        'insight_buyer_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(20), nullable=False),
        sa.Column('brand_id', sa.Integer(), nullable=False),
        sa.Column('buyer', sa.String(24), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'channel', 'brand_id', 'buyer'),
    )
    op.create_table(
        'insight_rolled_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('built_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )


def downgrade():
    op.drop_table('insight_rolled_days')
    op.drop_table('insight_buyer_days')
    op.drop_index('ix_insight_daily_sales_brand_id', table_name='insight_daily_sales')
    op.drop_table('insight_daily_sales')
    op.drop_index('ix_orders_paid_at', table_name='orders')
