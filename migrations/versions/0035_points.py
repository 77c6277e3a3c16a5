"""points: the points ledger (entries on lots, movements by key, a lockable account per member), daily
check-ins, the points mall's items and ops' points settings.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'points_settings',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('earn_per_yuan', sa.Integer(), nullable=False),
        sa.Column('checkin_points', sa.JSON(), nullable=False),
        sa.Column('expiry_mode', sa.String(16), nullable=False),
        sa.Column('expiry_days', sa.Integer(), nullable=False),
        sa.Column('remind_days', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
    )
    op.create_table(
        'points_accounts',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'points_lots',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('remaining', sa.Integer(), nullable=False),
        sa.Column('earned_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('reminded_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint('remaining >= 0 AND remaining <= amount', name='ck_points_lots_remaining'),
    )
    op.create_index('ix_points_lots_user', 'points_lots', ['user_id', 'expires_at'])
    op.create_index('ix_points_lots_due', 'points_lots', ['expires_at'])
    op.create_table(
        'points_entries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('lot_id', sa.Integer(), sa.ForeignKey('points_lots.id'), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(80), nullable=False),
        sa.Column('ref_type', sa.String(20), nullable=True),
        sa.Column('ref_id', sa.Integer(), nullable=True),
        sa.Column('memo', sa.String(200), nullable=False),
        sa.Column('actor_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_points_entries_user', 'points_entries', ['user_id', 'id'])
    op.create_index('ix_points_entries_ref', 'points_entries', ['ref_type', 'ref_id'])
    op.create_table(
        'points_movements',
        sa.Column('key', sa.String(80), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('shortfall', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'points_checkins',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('streak', sa.Integer(), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('user_id', 'day', name='uq_points_checkins_user_day'),
    )
    op.create_table(
        'points_mall_items',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('title', sa.String(120), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('cash_fen', sa.BigInteger(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
    )


def downgrade():
    op.drop_table('points_mall_items')
    op.drop_table('points_checkins')
    op.drop_table('points_movements')
    op.drop_index('ix_points_entries_ref', table_name='points_entries')
    op.drop_index('ix_points_entries_user', table_name='points_entries')
    op.drop_table('points_entries')
    op.drop_index('ix_points_lots_due', table_name='points_lots')
    op.drop_index('ix_points_lots_user', table_name='points_lots')
    op.drop_table('points_lots')
    op.drop_table('points_accounts')
    op.drop_table('points_settings')
