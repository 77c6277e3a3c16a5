"""wallet: one row per user's wallet (locked to serialise its debits; the balance is the ledger's 2208.U<id>),
the wallet part of an order, stored-value card products, wallet purchases (top-ups, gift cards) and gift cards.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 11:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'wallets',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('wallet_fen', sa.BigInteger(), nullable=False, server_default='0'))
    op.create_table(
        'stored_value_products',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=True),
        sa.Column('min_fen', sa.BigInteger(), nullable=True),
        sa.Column('max_fen', sa.BigInteger(), nullable=True),
        sa.Column('bonus_step_fen', sa.BigInteger(), nullable=True),
        sa.Column('bonus_fen', sa.BigInteger(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'wallet_purchases',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('product_id', sa.Integer(), sa.ForeignKey('stored_value_products.id'), nullable=True),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('bonus_fen', sa.BigInteger(), nullable=False),
        sa.Column('out_trade_no', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('gateway_trade_no', sa.String(length=64), nullable=True),
        sa.Column('paid_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('out_trade_no', name=op.f('uq_wallet_purchases_out_trade_no')),
    )
    op.create_index('ix_wallet_purchases_user', 'wallet_purchases', ['user_id', 'id'])
    op.create_table(
        'gift_cards',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('purchase_id', sa.Integer(), sa.ForeignKey('wallet_purchases.id'), nullable=False),
        sa.Column('buyer_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('key_id', sa.Integer(), sa.ForeignKey('data_keys.id'), nullable=False),
        sa.Column('code_sealed', sa.LargeBinary(), nullable=False),
        sa.Column('code_digest', sa.String(length=64), nullable=False),
        sa.Column('last4', sa.String(length=4), nullable=False),
        sa.Column('redeemed_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('redeemed_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('purchase_id', name=op.f('uq_gift_cards_purchase_id')),
        sa.UniqueConstraint('code_digest', name=op.f('uq_gift_cards_code_digest')),
    )
    op.create_index('ix_gift_cards_buyer_id', 'gift_cards', ['buyer_id'])


def downgrade():
    op.drop_index('ix_gift_cards_buyer_id', table_name='gift_cards')
    op.drop_table('gift_cards')
    op.drop_index('ix_wallet_purchases_user', table_name='wallet_purchases')
    op.drop_table('wallet_purchases')
    op.drop_table('stored_value_products')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('wallet_fen')
    op.drop_table('wallets')
