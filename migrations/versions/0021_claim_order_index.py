"""claim order index: claims from the shared stock take a SKU's codes soonest expiry first (inventory.claim's ORDER
BY expires_at IS NULL, expires_at, id); with only ix_codes_pick (sku_id, status, id) PostgreSQL sorted every
available code of the SKU for each claim (seconds at a million codes per SKU). This partial index serves the order.

On a large live database, build it beforehand with CREATE INDEX CONCURRENTLY under the same name.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 22:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

CLAIMABLE = "status = 'available' AND pool_id IS NULL AND max_uses = 1"


def upgrade():
    if 'ix_codes_claim' not in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes('codes')}:
        op.create_index('ix_codes_claim', 'codes', ['sku_id', sa.text('(expires_at IS NULL)'), 'expires_at', 'id'],
                        unique=False, postgresql_where=sa.text(CLAIMABLE), sqlite_where=sa.text(CLAIMABLE))


def downgrade():
    op.drop_index('ix_codes_claim', table_name='codes', postgresql_where=sa.text(CLAIMABLE),
                  sqlite_where=sa.text(CLAIMABLE))
