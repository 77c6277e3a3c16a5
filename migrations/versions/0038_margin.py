"""margin: the margin report's daily roll-up and the days it holds.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0038'
down_revision = '0037'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'margin_daily',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('sku_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(20), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('reseller_id', sa.Integer(), nullable=False),
        sa.Column('brand_id', sa.Integer(), nullable=False),
        sa.Column('revenue_fen', sa.BigInteger(), nullable=False),
        sa.Column('discount_fen', sa.BigInteger(), nullable=False),
        sa.Column('cost_fen', sa.BigInteger(), nullable=False),
        sa.Column('share_fen', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'sku_id', 'channel', 'supplier_id', 'reseller_id'),
    )
    op.create_table(
        'margin_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('built_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )


def downgrade():
    op.drop_table('margin_days')
    op.drop_table('margin_daily')
