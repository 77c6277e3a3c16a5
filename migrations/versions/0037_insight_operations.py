"""insight operations: daily roll-ups of product page views and of what each SKU sold, and the indexes the
dashboard's operations figures read orders and deliveries by.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0037'
down_revision = '0036'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'insight_product_views',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('views', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'sku_id'),
    )
    op.create_table(
        'insight_sku_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.Column('paid_orders', sa.Integer(), nullable=False),
        sa.Column('paid_units', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'sku_id'),
    )
    op.create_index('ix_orders_created_at', 'orders', ['created_at'])
    op.create_index('ix_deliveries_delivered_at', 'deliveries', ['delivered_at'])


def downgrade():
    op.drop_index('ix_deliveries_delivered_at', table_name='deliveries')
    op.drop_index('ix_orders_created_at', table_name='orders')
    op.drop_table('insight_sku_days')
    op.drop_table('insight_product_views')
