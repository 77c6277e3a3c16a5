"""shared loop codes: a partial index of the shared stock's available loop codes (max_uses > 1) by SKU, so the
reseller offer's single-use count is code_counts' codes less these few rows (app.inventory.services).

On a large live database, build it beforehand with CREATE INDEX CONCURRENTLY under the same name.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

LOOP = "status = 'available' AND pool_id IS NULL AND max_uses > 1"


def upgrade():
    if 'ix_codes_shared_loop' not in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes('codes')}:
        op.create_index('ix_codes_shared_loop', 'codes', ['sku_id'], unique=False,
                        postgresql_where=sa.text(LOOP), sqlite_where=sa.text(LOOP))


def downgrade():
    op.drop_index('ix_codes_shared_loop', table_name='codes', postgresql_where=sa.text(LOOP),
                  sqlite_where=sa.text(LOOP))
