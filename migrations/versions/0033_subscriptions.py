"""subscriptions: plans, members' subscriptions (withholding agreements), charge attempts.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'subscription_plans',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('period_months', sa.SmallInteger(), nullable=False),
        sa.Column('price_fen', sa.BigInteger(), nullable=False),
        sa.Column('reminder_days', sa.SmallInteger(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_subscription_plans_sku_id', 'subscription_plans', ['sku_id'])
    op.create_table(
        'subscriptions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('plan_id', sa.Integer(), sa.ForeignKey('subscription_plans.id'), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('external_no', sa.String(length=40), nullable=False),
        sa.Column('agreement_no', sa.String(length=64), nullable=True),
        sa.Column('periods_paid', sa.Integer(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('anchor_at', sa.DateTime(), nullable=True),
        sa.Column('next_charge_at', sa.DateTime(), nullable=True),
        sa.Column('charge_id', sa.Integer(), nullable=True),
        sa.Column('charging_since', sa.DateTime(), nullable=True),
        sa.Column('reminded_period', sa.Integer(), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(), nullable=True),
        sa.Column('unsigned_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('external_no', name=op.f('uq_subscriptions_external_no')),
    )
    op.create_index('ix_subscriptions_plan_id', 'subscriptions', ['plan_id'])
    op.create_index('ix_subscriptions_user_id', 'subscriptions', ['user_id'])
    op.create_index('ix_subscriptions_next_charge_at', 'subscriptions', ['next_charge_at'])
    op.create_table(
        'subscription_charges',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('subscription_id', sa.Integer(), sa.ForeignKey('subscriptions.id'), nullable=False),
        sa.Column('period', sa.Integer(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('out_trade_no', sa.String(length=40), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('fail_code', sa.String(length=40), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('settled_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('subscription_id', 'period', 'attempt',
                            name=op.f('uq_subscription_charges_subscription_id_period_attempt')),
        sa.UniqueConstraint('out_trade_no', name=op.f('uq_subscription_charges_out_trade_no')),
    )
    op.create_index('ix_subscription_charges_subscription_id', 'subscription_charges', ['subscription_id'])


def downgrade():
    op.drop_table('subscription_charges')
    op.drop_table('subscriptions')
    op.drop_table('subscription_plans')
