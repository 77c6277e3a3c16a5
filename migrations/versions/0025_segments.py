"""segments: buyer segments (rules), the bulk action runs over them and the members each run handled; an index
on orders (buyer, paid_at) for the segment rules.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'segments',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'segment_runs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('segment_id', sa.Integer(), sa.ForeignKey('segments.id'), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('processed', sa.Integer(), nullable=False),
        sa.Column('affected', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.String(length=64), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_segment_runs_segment', 'segment_runs', ['segment_id', 'id'])
    op.create_table(
        'segment_run_members',
        sa.Column('run_id', sa.Integer(), sa.ForeignKey('segment_runs.id'), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
    )
    op.create_index('ix_orders_buyer_paid', 'orders', ['buyer_id', 'paid_at'])


def downgrade():
    op.drop_index('ix_orders_buyer_paid', table_name='orders')
    op.drop_table('segment_run_members')
    op.drop_index('ix_segment_runs_segment', table_name='segment_runs')
    op.drop_table('segment_runs')
    op.drop_table('segments')
