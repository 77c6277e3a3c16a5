"""consumer referral (推广员, 分销): promoters and their devices, clicks, per-SKU commission rates, referred
orders, commissions and withdrawals.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 11:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'promoters',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('code', sa.String(length=12), nullable=False),
        sa.Column('terms_version', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('user_id', name=op.f('uq_promoters_user_id')),
        sa.UniqueConstraint('code', name=op.f('uq_promoters_code')),
    )
    op.create_table(
        'promoter_devices',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('promoter_id', sa.Integer(), sa.ForeignKey('promoters.id'), nullable=False),
        sa.Column('device', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('promoter_id', 'device', name=op.f('uq_promoter_devices_promoter_id_device')),
    )
    op.create_index('ix_promoter_devices_device', 'promoter_devices', ['device'])
    op.create_table(
        'referral_clicks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('promoter_id', sa.Integer(), sa.ForeignKey('promoters.id'), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('visitor', sa.String(length=40), nullable=False),
        sa.Column('ip_hash', sa.String(length=16), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('promoter_id', 'sku_id', 'visitor', 'day', name=op.f('uq_referral_clicks_promoter_id_sku_id_visitor_day')),
    )
    op.create_index('ix_referral_clicks_promoter', 'referral_clicks', ['promoter_id', 'id'])
    op.create_index('ix_referral_clicks_ip_day', 'referral_clicks', ['ip_hash', 'day'])
    op.create_table(
        'referral_rates',
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), primary_key=True),
        sa.Column('rate_bp', sa.Integer(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'referrals',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('promoter_id', sa.Integer(), sa.ForeignKey('promoters.id'), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('clicked_at', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('order_id', name=op.f('uq_referrals_order_id')),
    )
    op.create_index('ix_referrals_promoter', 'referrals', ['promoter_id', 'id'])
    op.create_table(
        'referral_commissions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('promoter_id', sa.Integer(), sa.ForeignKey('promoters.id'), nullable=False),
        sa.Column('base_fen', sa.BigInteger(), nullable=False),
        sa.Column('rate_bp', sa.Integer(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('available_at', sa.DateTime(), nullable=True),
        sa.Column('cancelled_at', sa.DateTime(), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('order_id', name=op.f('uq_referral_commissions_order_id')),
        sa.CheckConstraint('amount_fen > 0', name=op.f('ck_referral_commissions_amount_positive')),
    )
    op.create_index('ix_referral_commissions_promoter', 'referral_commissions', ['promoter_id', 'id'])
    op.create_index('ix_referral_commissions_status_due', 'referral_commissions', ['status', 'due_at'])
    op.create_table(
        'referral_withdrawals',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('promoter_id', sa.Integer(), sa.ForeignKey('promoters.id'), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('amount_fen > 0', name=op.f('ck_referral_withdrawals_amount_positive')),
    )
    op.create_index('ix_referral_withdrawals_status', 'referral_withdrawals', ['status', 'id'])
    op.create_index('ix_referral_withdrawals_promoter', 'referral_withdrawals', ['promoter_id', 'id'])


def downgrade():
    for table in ('referral_withdrawals', 'referral_commissions', 'referrals', 'referral_rates', 'referral_clicks',
                  'promoter_devices', 'promoters'):
        op.drop_table(table)
