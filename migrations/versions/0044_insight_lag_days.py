"""insight lag days: the daily roll-up of the redemption lag (units delivered per day and SKU, by lag bucket, and
those never revealed or redeemed), its cutoff row, the index later redemptions are read live by, and a covering
index the paying and repeat users are counted from.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 19:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0044'
down_revision = '0043'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'insight_lag_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('delivered', sa.Integer(), nullable=False),
        sa.Column('never', sa.Integer(), nullable=False),
        sa.Column('buckets', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'sku_id'),
    )
    op.create_table(
        'insight_lag_cutoff',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('revealed_before', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_entitlements_used_at', 'entitlements', ['used_at'])
    op.create_index('ix_insight_buyer_days_cover', 'insight_buyer_days',
                    ['day', 'channel', 'brand_id', 'buyer', 'orders'])


def downgrade():
    op.drop_index('ix_insight_buyer_days_cover', table_name='insight_buyer_days')
    op.drop_index('ix_entitlements_used_at', table_name='entitlements')
    op.drop_table('insight_lag_cutoff')
    op.drop_table('insight_lag_days')
