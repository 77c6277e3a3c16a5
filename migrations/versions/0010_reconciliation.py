"""reconciliation: the daily runs against the gateway's settlement file and the suppliers' bills, and the
mismatches finance resolves

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recon_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('counterparty', sa.String(length=32), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('their_lines', sa.Integer(), nullable=False),
    sa.Column('our_lines', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('their_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('our_total_fen', sa.BigInteger(), nullable=False),
    sa.Column('ran_by_id', sa.Integer(), nullable=True),
    sa.Column('ran_at', sa.DateTime(), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ran_by_id'], ['users.id'], name=op.f('fk_recon_runs_ran_by_id_users')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_recon_runs_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recon_runs')),
    sa.UniqueConstraint('source', 'counterparty', 'day', name=op.f('uq_recon_runs_source_counterparty_day'))
    )
    op.create_table('recon_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=80), nullable=False),
    sa.Column('line_type', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('our_amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('their_amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('remark', sa.String(length=300), nullable=False),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_recon_items_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['run_id'], ['recon_runs.id'], name=op.f('fk_recon_items_run_id_recon_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recon_items')),
    sa.UniqueConstraint('run_id', 'reference', name=op.f('uq_recon_items_run_id_reference'))
    )
    with op.batch_alter_table('recon_items', schema=None) as batch_op:
        batch_op.create_index('ix_recon_items_status_source', ['status', 'source'], unique=False)


def downgrade():
    with op.batch_alter_table('recon_items', schema=None) as batch_op:
        batch_op.drop_index('ix_recon_items_status_source')

    op.drop_table('recon_items')
    op.drop_table('recon_runs')
