"""coupons: templates in a campaign, their pre-numbered coupons (slots) and exchange codes.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'coupon_templates',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False, index=True),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('threshold_fen', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('off_bp', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('cap_fen', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('new_user_only', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('scope', sa.String(length=20), nullable=False),
        sa.Column('scope_ids', sa.JSON(), nullable=False),
        sa.Column('valid_from', sa.DateTime(), nullable=True),
        sa.Column('valid_until', sa.DateTime(), nullable=True),
        sa.Column('valid_days', sa.Integer(), nullable=True),
        sa.Column('total_quantity', sa.Integer(), nullable=False),
        sa.Column('per_user_limit', sa.Integer(), nullable=False, server_default='1'),
        sa.Column('claimable', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('grant_at_signup', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('total_quantity > 0 AND per_user_limit > 0',
                           name=op.f('ck_coupon_templates_limits_positive')),
        sa.CheckConstraint('(valid_until IS NOT NULL) OR (valid_days IS NOT NULL)',
                           name=op.f('ck_coupon_templates_has_validity')),
    )
    op.create_table(
        'coupons',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('template_id', sa.Integer(), sa.ForeignKey('coupon_templates.id'), nullable=False),
        sa.Column('serial', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('holder_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('holder_seq', sa.Integer(), nullable=True),
        sa.Column('granted_to', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=20), nullable=True),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('valid_from', sa.DateTime(), nullable=True),
        sa.Column('valid_until', sa.DateTime(), nullable=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True, index=True),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('template_id', 'serial', name='uq_coupons_serial'),
        sa.UniqueConstraint('template_id', 'holder_id', 'holder_seq', name='uq_coupons_holder_seq'),
        sa.UniqueConstraint('template_id', 'granted_to', name='uq_coupons_granted_to'),
    )
    op.create_index('ix_coupons_free', 'coupons', ['template_id', 'status'])
    op.create_index('ix_coupons_holder', 'coupons', ['holder_id', 'status'])
    op.create_table(
        'coupon_codes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('template_id', sa.Integer(), sa.ForeignKey('coupon_templates.id'), nullable=False, index=True),
        sa.Column('batch', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False, unique=True),
        sa.Column('data_key_id', sa.Integer(), sa.ForeignKey('data_keys.id'), nullable=False),
        sa.Column('code_ct', sa.LargeBinary(), nullable=False),
        sa.Column('redeemed_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('redeemed_at', sa.DateTime(), nullable=True),
        sa.Column('coupon_id', sa.Integer(), sa.ForeignKey('coupons.id'), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )


def downgrade():
    op.drop_table('coupon_codes')
    op.drop_index('ix_coupons_holder', 'coupons')
    op.drop_index('ix_coupons_free', 'coupons')
    op.drop_table('coupons')
    op.drop_table('coupon_templates')
