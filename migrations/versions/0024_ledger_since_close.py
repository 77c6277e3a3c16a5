"""ledger since close: an account's postings since the latest closed month by index, and autovacuum for the ledger's
inserts.

The reseller list's balances and an account's page read, per account, the latest closed month's sums plus the
postings since (app.ledger.reports.balances). `ix_postings_account_entry (account_id, entry_id, amount_fen)` reads
those postings as one range per account, from the index alone; it replaces `ix_postings_account (account_id,
amount_fen)`, whose every use it serves too (an account's sum), so a posting writes no more index entries.

Index-only scans read no heap page only where the visibility map marks the page all-visible, which only VACUUM
does. The journal is append-only, so autovacuum comes for inserts alone, by default once 20% of the table is new:
on a ledger of millions of postings, months of rows (exactly the open month the pages read) would stay unmarked
and cost a heap fetch each. Here it comes every 20,000 new rows (a vacuum of an append-only table reads only the
pages not yet marked). The storage parameters are PostgreSQL's; nothing for them on SQLite.

On a large live database, build the index beforehand, without blocking writes, under the same name:
CREATE INDEX CONCURRENTLY ix_postings_account_entry ON postings (account_id, entry_id, amount_fen);

Revision ID: 0024
Revises: 0023_offers
Create Date: 2026-12-07 01:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023_offers'
branch_labels = None
depends_on = None

TABLES = ("postings", "journal_entries")
OPTIONS = ("autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_insert_scale_factor")


def _exists(name: str) -> bool:
    return name in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes('postings')}


def upgrade():
    with op.batch_alter_table('postings', schema=None) as batch_op:
        if not _exists('ix_postings_account_entry'):
            batch_op.create_index('ix_postings_account_entry', ['account_id', 'entry_id', 'amount_fen'], unique=False)
        batch_op.drop_index('ix_postings_account')
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_threshold = 20000, "
                       "autovacuum_vacuum_insert_scale_factor = 0)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} RESET ({', '.join(OPTIONS)})")
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index('ix_postings_account', ['account_id', 'amount_fen'], unique=False)
        batch_op.drop_index('ix_postings_account_entry')
