"""code voids: voiding an import batch or a list of codes (批量作废), one item per code taken.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 15:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0041'
down_revision = '0040'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'code_voids',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('actor_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('batch_id', sa.Integer(), sa.ForeignKey('import_batches.id'), nullable=True, unique=True),
        sa.Column('reason', sa.String(500), nullable=False),
        sa.Column('rule', sa.String(10), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.String(64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'code_void_items',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True),
        sa.Column('void_id', sa.Integer(), sa.ForeignKey('code_voids.id'), nullable=False),
        sa.Column('code_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), sa.ForeignKey('codes.id'),
                  nullable=False),
        sa.Column('step', sa.String(10), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('entitlement_id', sa.Integer(), sa.ForeignKey('entitlements.id'), nullable=True),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(300), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('code_id', name='uq_code_void_items_code'),
    )
    op.create_index('ix_code_void_items_void', 'code_void_items', ['void_id', 'step'])


def downgrade():
    op.drop_index('ix_code_void_items_void', table_name='code_void_items')
    op.drop_table('code_void_items')
    op.drop_table('code_voids')
