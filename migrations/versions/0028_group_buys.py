"""group buys: offers (a group price for N buyers within T hours, in a campaign), groups and their seats.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'group_offers',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=False),
        sa.Column('sku_id', sa.Integer(), sa.ForeignKey('skus.id'), nullable=False),
        sa.Column('group_price_fen', sa.BigInteger(), nullable=False),
        sa.Column('group_size', sa.Integer(), nullable=False),
        sa.Column('hours', sa.Integer(), nullable=False),
        sa.Column('stopped_at', sa.DateTime(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('group_size >= 2', name=op.f('ck_group_offers_size_at_least_two')),
        sa.CheckConstraint('hours >= 1', name=op.f('ck_group_offers_hours_positive')),
        sa.CheckConstraint('group_price_fen >= 1', name=op.f('ck_group_offers_price_positive')),
    )
    op.create_index('ix_group_offers_campaign_id', 'group_offers', ['campaign_id'])
    op.create_index('ix_group_offers_sku_id', 'group_offers', ['sku_id'])
    op.create_table(
        'groups',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('offer_id', sa.Integer(), sa.ForeignKey('group_offers.id'), nullable=False),
        sa.Column('leader_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('group_price_fen', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('deadline', sa.DateTime(), nullable=False),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('id', 'size', name=op.f('uq_groups_id_size')),
    )
    op.create_index('ix_groups_status_deadline', 'groups', ['status', 'deadline'])
    op.create_index('ix_groups_offer', 'groups', ['offer_id', 'id'])
    op.create_table(
        'group_members',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('groups.id'), nullable=False),
        sa.Column('group_size', sa.Integer(), nullable=False),
        sa.Column('seat', sa.Integer(), nullable=False),
        sa.Column('buyer_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('paid_at', sa.DateTime(), nullable=True),
        sa.Column('refunded_at', sa.DateTime(), nullable=True),
        sa.Column('joined_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('group_id', 'seat', name=op.f('uq_group_members_group_id_seat')),
        sa.UniqueConstraint('group_id', 'buyer_id', name=op.f('uq_group_members_group_id_buyer_id')),
        sa.UniqueConstraint('order_id', name=op.f('uq_group_members_order_id')),
        sa.CheckConstraint('seat >= 1 AND seat <= group_size', name=op.f('ck_group_members_seat_in_group')),
        sa.ForeignKeyConstraint(['group_id', 'group_size'], ['groups.id', 'groups.size'],
                                name='fk_group_members_group_size'),
    )


def downgrade():
    op.drop_table('group_members')
    op.drop_table('groups')
    op.drop_table('group_offers')
