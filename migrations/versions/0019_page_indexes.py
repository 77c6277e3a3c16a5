"""page indexes: the lists read by keyset and the sums the pages show, each served by an index

- journal_entries (booked_at, id) replaces (booked_at): the journal, newest first, by keyset; (kind, booked_at, id)
  for the journal of one kind.
- postings (entry_id, account_id, amount_fen) and (account_id, amount_fen) replace the single-column indexes:
  an entry's postings and an account's sum come from the index alone (no more indexes to write per posting).
- codes: a partial index of the shared stock still available, by expiry (PostgreSQL: with max_uses and uses
  included): the expired codes the stock overview subtracts are a range at its start, read from the index alone.
- code_counts: signed counts of codes per (SKU, status, pooled), kept by triggers on codes in the same
  transaction (app.inventory.counts): the stock overview sums a few rows instead of counting every code.
- ledger_period_balances: per closed month and account, the debits and credits booked before the month's end,
  filled here for the months already closed; the trial balance adds only what was booked since.

On a large live database, build the indexes beforehand with CREATE INDEX CONCURRENTLY under the same names;
this migration then finds nothing left to do but the table (see docs/performance.md).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:30:00

"""
from alembic import op
import sqlalchemy as sa

from app.inventory import counts


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

SELLABLE = "status = 'available' AND pool_id IS NULL"


def _exists(name: str) -> bool:
    return name in {ix["name"] for table in ("journal_entries", "postings", "codes")
                    for ix in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade():
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_entries_booked_at')
        if not _exists('ix_journal_entries_booked'):
            batch_op.create_index('ix_journal_entries_booked', ['booked_at', 'id'], unique=False)
        if not _exists('ix_journal_entries_kind'):
            batch_op.create_index('ix_journal_entries_kind', ['kind', 'booked_at', 'id'], unique=False)
    with op.batch_alter_table('postings', schema=None) as batch_op:
        if not _exists('ix_postings_entry'):
            batch_op.create_index('ix_postings_entry', ['entry_id', 'account_id', 'amount_fen'], unique=False)
        if not _exists('ix_postings_account'):
            batch_op.create_index('ix_postings_account', ['account_id', 'amount_fen'], unique=False)
        batch_op.drop_index('ix_postings_entry_id')
        batch_op.drop_index('ix_postings_account_id')
    if not _exists('ix_codes_sellable'):
        op.create_index('ix_codes_sellable', 'codes', ['expires_at', 'sku_id'], unique=False,
                        postgresql_include=['max_uses', 'uses'], postgresql_where=sa.text(SELLABLE),
                        sqlite_where=sa.text(SELLABLE))

    op.create_table('ledger_period_balances',
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('debit_fen', sa.BigInteger(), nullable=False),
    sa.Column('credit_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'],
                            name=op.f('fk_ledger_period_balances_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['period_id'], ['ledger_closed_periods.id'],
                            name=op.f('fk_ledger_period_balances_period_id_ledger_closed_periods')),
    sa.PrimaryKeyConstraint('period_id', 'account_id', name=op.f('pk_ledger_period_balances'))
    )
    # The months closed before this migration: everything booked before each one's end, per account.
    op.execute("INSERT INTO ledger_period_balances (period_id, account_id, debit_fen, credit_fen) "
               "SELECT c.id, p.account_id, "
               "SUM(CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END), "
               "SUM(CASE WHEN p.amount_fen < 0 THEN -p.amount_fen ELSE 0 END) "
               "FROM ledger_closed_periods c JOIN journal_entries e ON e.booked_at < c.ends_at "
               "JOIN postings p ON p.entry_id = e.id GROUP BY c.id, p.account_id")


    op.create_table('code_counts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('pooled', sa.Boolean(), nullable=False),
    sa.Column('codes', sa.BigInteger(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_counts'))
    )
    counts.install(op.get_bind())


def downgrade():
    counts.uninstall(op.get_bind())
    op.drop_table('code_counts')
    op.drop_table('ledger_period_balances')
    op.drop_index('ix_codes_sellable', table_name='codes', postgresql_where=sa.text(SELLABLE),
                  sqlite_where=sa.text(SELLABLE))
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index('ix_postings_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_postings_entry_id', ['entry_id'], unique=False)
        batch_op.drop_index('ix_postings_account')
        batch_op.drop_index('ix_postings_entry')
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.create_index('ix_journal_entries_booked_at', ['booked_at'], unique=False)
        batch_op.drop_index('ix_journal_entries_kind')
        batch_op.drop_index('ix_journal_entries_booked')
