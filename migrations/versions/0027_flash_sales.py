"""flash sales: a campaign's sale of a SKU (price, quota, window, per-user limit) and the units orders hold of it,
one row each, whose constraints make overselling and exceeding the per-user limit impossible in the database
itself (unique serial 1..quota per sale, unique slot 1..limit per buyer and sale).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 01:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'flash_sales',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id', name=op.f('fk_flash_sales_campaign_id_campaigns')),
                  nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id', name=op.f('fk_flash_sales_sku_id_skus')), nullable=False),
        sa.Column('price_fen', sa.BigInteger(), nullable=False),
        sa.Column('quota', sa.Integer(), nullable=False),
        sa.Column('per_user_limit', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=False),
        sa.Column('stopped_at', sa.DateTime(), nullable=True),
        sa.Column('gate_key', sa.String(length=32), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id', name=op.f('fk_flash_sales_created_by_id_users')),
                  nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_flash_sales_window_ordered')),
        sa.CheckConstraint('quota >= 1', name=op.f('ck_flash_sales_quota_positive')),
        sa.CheckConstraint('per_user_limit BETWEEN 1 AND 20', name=op.f('ck_flash_sales_limit_range')),
        sa.CheckConstraint('price_fen >= 1', name=op.f('ck_flash_sales_price_positive')),
        sa.UniqueConstraint('id', 'quota', 'per_user_limit', name='uq_flash_sales_bounds'),
    )
    op.create_index('ix_flash_sales_campaign_id', 'flash_sales', ['campaign_id'])
    op.create_index('ix_flash_sales_sku_id', 'flash_sales', ['sku_id'])
    op.create_table(
        'flash_units',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sale_id', sa.Integer(), sa.ForeignKey('flash_sales.id', name=op.f('fk_flash_units_sale_id_flash_sales')),
                  nullable=False),
        sa.Column('serial', sa.Integer(), nullable=False),
        sa.Column('buyer_id', sa.Integer(), sa.ForeignKey('users.id', name=op.f('fk_flash_units_buyer_id_users')),
                  nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('quota', sa.Integer(), nullable=False),
        sa.Column('per_user_limit', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id', name=op.f('fk_flash_units_order_id_orders')),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('sale_id', 'serial', name='uq_flash_units_serial'),
        sa.UniqueConstraint('sale_id', 'buyer_id', 'n', name='uq_flash_units_slot'),
        sa.ForeignKeyConstraint(['sale_id', 'quota', 'per_user_limit'],
                                ['flash_sales.id', 'flash_sales.quota', 'flash_sales.per_user_limit'],
                                name='fk_flash_units_sale_bounds'),
        sa.CheckConstraint('serial BETWEEN 1 AND quota', name=op.f('ck_flash_units_serial_in_quota')),
        sa.CheckConstraint('n BETWEEN 1 AND per_user_limit', name=op.f('ck_flash_units_slot_in_limit')),
    )
    op.create_index('ix_flash_units_order_id', 'flash_units', ['order_id'])


def downgrade():
    op.drop_table('flash_units')
    op.drop_table('flash_sales')
