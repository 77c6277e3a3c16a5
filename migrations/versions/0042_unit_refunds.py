"""unit refunds: money given back for delivered units (after-sales), fully or in part, keyed by the caller.

Revision ID: 0042
Revises: 0038
Create Date: 2026-12-07 15:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0042'
down_revision = '0038'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'unit_refunds',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('key', sa.String(80), nullable=False),
        sa.Column('delivery_id', sa.Integer(), sa.ForeignKey('deliveries.id'), nullable=True),
        sa.Column('code_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.ForeignKey('codes.id'),
                  nullable=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(200), nullable=False),
        sa.Column('actor_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('amount_fen > 0', name=op.f('ck_unit_refunds_amount_pos')),
        sa.UniqueConstraint('key', name=op.f('uq_unit_refunds_key')),
    )
    op.create_index(op.f('ix_unit_refunds_delivery_id'), 'unit_refunds', ['delivery_id'])
    op.create_index(op.f('ix_unit_refunds_order_id'), 'unit_refunds', ['order_id'])
    op.create_index(op.f('ix_unit_refunds_code_id'), 'unit_refunds', ['code_id'])


def downgrade():
    op.drop_index(op.f('ix_unit_refunds_code_id'), table_name='unit_refunds')
    op.drop_index(op.f('ix_unit_refunds_order_id'), table_name='unit_refunds')
    op.drop_index(op.f('ix_unit_refunds_delivery_id'), table_name='unit_refunds')
    op.drop_table('unit_refunds')
