"""rejected_notices: rejected gateway notices and supplier callbacks counted per source, reason and day
instead of stored body by body

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rejected_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=60), nullable=False),
        sa.Column('reason', sa.String(length=60), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('last_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_notices')),
        sa.UniqueConstraint('source', 'reason', 'day', name=op.f('uq_rejected_notices_source_reason_day')),
    )
    # The rejected bodies stored so far become counters; the verified notices stay as they are.
    op.execute("""
        INSERT INTO rejected_notices (source, reason, day, count, last_at)
        SELECT 'paygate:' || provider, outcome, DATE(created_at), COUNT(*), MAX(created_at)
        FROM payment_notifications WHERE outcome IN ('bad_signature', 'malformed', 'stale', 'unknown_order')
        GROUP BY provider, outcome, DATE(created_at)
    """)
    op.execute("DELETE FROM payment_notifications WHERE outcome IN "
               "('bad_signature', 'malformed', 'stale', 'unknown_order')")


def downgrade():
    op.drop_table('rejected_notices')
