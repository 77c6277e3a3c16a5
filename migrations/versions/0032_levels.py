"""member levels and growth value: levels, their SKU rules, the growth ledger, member status, monthly gifts.

Revision ID: 0032
Revises: 0030
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0032'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade():
    settings = op.create_table(
        'level_settings',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('growth_per_yuan_pct', sa.Integer(), server_default='100', nullable=False),
    )
    op.bulk_insert(settings, [{'id': 1, 'version': 1, 'growth_per_yuan_pct': 100}])
    op.create_table(
        'member_levels',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('badge', sa.String(length=8), server_default='', nullable=False),
        sa.Column('threshold', sa.BigInteger(), nullable=False),
        sa.Column('discount_bp', sa.Integer(), server_default='10000', nullable=False),
        sa.Column('gift_template_id', sa.Integer(), sa.ForeignKey('coupon_templates.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('threshold >= 0', name=op.f('ck_member_levels_threshold_nonneg')),
        sa.CheckConstraint('discount_bp > 0 AND discount_bp <= 10000', name=op.f('ck_member_levels_discount_valid')),
        sa.UniqueConstraint('name', name=op.f('uq_member_levels_name')),
        sa.UniqueConstraint('threshold', name=op.f('uq_member_levels_threshold')),
    )
    op.create_table(
        'level_sku_rules',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('level_id', sa.Integer(), sa.ForeignKey('member_levels.id', ondelete='CASCADE'), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('price_fen', sa.BigInteger(), nullable=True),
        sa.Column('exclusive', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.UniqueConstraint('level_id', 'sku_id', name='uq_level_sku_rules'),
    )
    op.create_index('ix_level_sku_rules_level_id', 'level_sku_rules', ['level_id'])
    op.create_index('ix_level_sku_rules_sku_id', 'level_sku_rules', ['sku_id'])
    op.create_table(
        'growth_entries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('counts_at', sa.DateTime(), nullable=False),
        sa.Column('actor_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('note', sa.String(length=200), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('key', name=op.f('uq_growth_entries_key')),
    )
    op.create_index('ix_growth_entries_user', 'growth_entries', ['user_id', 'counts_at'])
    op.create_index('ix_growth_entries_order_id', 'growth_entries', ['order_id'])
    op.create_table(
        'member_status',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('level_id', sa.Integer(), sa.ForeignKey('member_levels.id', ondelete='SET NULL'), nullable=True),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('downgrade_at', sa.DateTime(), nullable=True),
        sa.Column('shortfall', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'level_gifts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('level_id', sa.Integer(), sa.ForeignKey('member_levels.id', ondelete='CASCADE'), nullable=False),
        sa.Column('coupon_id', sa.Integer(), sa.ForeignKey('coupons.id'), nullable=True),
        sa.Column('skipped', sa.String(length=20), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('user_id', 'month', name='uq_level_gifts_month'),
    )


def downgrade():
    op.drop_table('level_gifts')
    op.drop_table('member_status')
    op.drop_index('ix_growth_entries_order_id', table_name='growth_entries')
    op.drop_index('ix_growth_entries_user', table_name='growth_entries')
    op.drop_table('growth_entries')
    op.drop_index('ix_level_sku_rules_sku_id', table_name='level_sku_rules')
    op.drop_index('ix_level_sku_rules_level_id', table_name='level_sku_rules')
    op.drop_table('level_sku_rules')
    op.drop_table('member_levels')
    op.drop_table('level_settings')
