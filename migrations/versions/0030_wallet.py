"""wallet: one row per user's wallet (locked to serialise its debits; the balance is the ledger's 2208.U<id>).

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


def downgrade():
    op.drop_table('wallets')
