"""ledger autovacuum: the trial balance, the chart of accounts, an account's page and the reseller list sum the
postings booked since the latest closed month from the covering index ix_postings_entry (and the journal's entries
from ix_journal_entries_booked), by index-only scans. Those read no heap page only where the visibility map marks
the page all-visible, which only VACUUM does. The journal is append-only, so autovacuum comes for inserts alone,
by default once 20% of the table is new: on a ledger of millions of postings, months of them, exactly the open
month the pages read, would stay unmarked and cost a heap fetch per posting. Here it comes every 20,000 new rows
(a vacuum of an append-only table reads only the pages not yet marked). PostgreSQL only; nothing on SQLite.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 01:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

TABLES = ("postings", "journal_entries")
OPTIONS = ("autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_insert_scale_factor")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_threshold = 20000, "
                   "autovacuum_vacuum_insert_scale_factor = 0)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(OPTIONS)})")
