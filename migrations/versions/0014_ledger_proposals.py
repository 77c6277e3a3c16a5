"""ledger_proposals: adjustments and opening balances wait for a second finance user's approval

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('debit', sa.String(length=40), nullable=False),
    sa.Column('credit', sa.String(length=40), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('memo', sa.String(length=200), nullable=False),
    sa.Column('booked_at', sa.DateTime(), nullable=True),
    sa.Column('ref_type', sa.String(length=40), nullable=True),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('proposed_by', sa.Integer(), nullable=False),
    sa.Column('proposed_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_fen > 0', name='ck_ledger_proposals_amount'),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], ),
    sa.ForeignKeyConstraint(['proposed_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_ledger_proposals_status', 'ledger_proposals', ['status'], unique=False)


def downgrade():
    op.drop_index('ix_ledger_proposals_status', table_name='ledger_proposals')
    op.drop_table('ledger_proposals')
