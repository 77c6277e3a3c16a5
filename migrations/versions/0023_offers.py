"""Offers (marketing): first-order discounts and their one claim per buyer, spend-and-get gifts and each order's
gift, cross-sell pins with their uses and the computed recommendations; deliveries.extra marks a unit given free
with its order.

Revision ID: 0023_offers
Revises: 0022
Create Date: 2026-12-07 01:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_offers'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'first_order_offers',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('percent', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('cap_fen', sa.BigInteger(), nullable=True),
        sa.Column('sku_ids', sa.JSON(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("(kind = 'amount' AND amount_fen > 0) OR (kind = 'percent' AND percent > 0 "
                           "AND percent < 100)", name=op.f('ck_first_order_offers_kind_valid')),
    )
    op.create_index('ix_first_order_offers_campaign_id', 'first_order_offers', ['campaign_id'])
    op.create_table(
        'first_order_claims',
        sa.Column('buyer_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('offer_id', sa.Integer(), sa.ForeignKey('first_order_offers.id'), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_first_order_claims_order_id', 'first_order_claims', ['order_id'])
    op.create_table(
        'gift_offers',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False),
        sa.Column('trigger_sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=True),
        sa.Column('threshold_fen', sa.BigInteger(), nullable=True),
        sa.Column('gift_sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('trigger_sku_id IS NOT NULL OR threshold_fen IS NOT NULL',
                           name=op.f('ck_gift_offers_has_trigger')),
    )
    op.create_index('ix_gift_offers_campaign_id', 'gift_offers', ['campaign_id'])
    op.create_table(
        'order_gifts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('offer_id', sa.Integer(), sa.ForeignKey('gift_offers.id'), nullable=False),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False),
        sa.Column('gift_sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('value_fen', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('delivery_id', sa.Integer(), sa.ForeignKey('deliveries.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('order_id', 'offer_id', name=op.f('uq_order_gifts_order_id_offer_id')),
    )
    op.create_index('ix_order_gifts_order_id', 'order_gifts', ['order_id'])
    op.create_table(
        'cross_sell_pins',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False),
        sa.Column('anchor_sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('recommended_sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('price_fen', sa.BigInteger(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('anchor_sku_id', 'recommended_sku_id', name=op.f('uq_cross_sell_pins_anchor_sku_id_recommended_sku_id')),
        sa.CheckConstraint('anchor_sku_id <> recommended_sku_id', name=op.f('ck_cross_sell_pins_not_itself')),
    )
    op.create_index('ix_cross_sell_pins_campaign_id', 'cross_sell_pins', ['campaign_id'])
    op.create_table(
        'cross_sell_uses',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('pin_id', sa.Integer(), sa.ForeignKey('cross_sell_pins.id'), nullable=False),
        sa.Column('buyer_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('pin_id', 'buyer_id', name=op.f('uq_cross_sell_uses_pin_id_buyer_id')),
    )
    op.create_index('ix_cross_sell_uses_order_id', 'cross_sell_uses', ['order_id'])
    op.create_table(
        'sku_recommendations',
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), primary_key=True),
        sa.Column('recommended_sku_id', sa.Integer(), sa.ForeignKey('skus.id'), primary_key=True),
        sa.Column('buyers', sa.Integer(), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('extra', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('extra')
    for table in ('sku_recommendations', 'cross_sell_uses', 'cross_sell_pins', 'order_gifts', 'gift_offers',
                  'first_order_claims', 'first_order_offers'):
        op.drop_table(table)
