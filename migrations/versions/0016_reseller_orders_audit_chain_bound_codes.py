"""API orders need no user (orders.buyer_id, entitlements.owner_id nullable); the audit log gets the user
agent, a hash chain over its existing rows, and append-only triggers; codes.ct_format (ciphertexts bound
to their row)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:30:00

"""
from alembic import op
import sqlalchemy as sa

from app.core import audit_chain


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders') as batch:
        batch.alter_column('buyer_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('entitlements') as batch:
        batch.alter_column('owner_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('audit_log') as batch:
        batch.add_column(sa.Column('user_agent', sa.String(255), nullable=True))
        batch.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('hash', sa.String(64), nullable=True))
        batch.create_unique_constraint('uq_audit_log_seq', ['seq'])
    _chain_existing_rows()
    with op.batch_alter_table('codes') as batch:
        # Existing ciphertexts stay format 1 (unbound) until `keys rotate` rebinds them to their row.
        batch.add_column(sa.Column('ct_format', sa.SmallInteger(), nullable=False, server_default='1'))
    audit_chain.protect(op.get_bind())


def _chain_existing_rows():
    """Seal the rows written before the chain existed, in id order."""
    log = sa.table('audit_log', sa.column('id', sa.Integer), sa.column('actor_id', sa.Integer),
                   sa.column('action', sa.String), sa.column('target_type', sa.String),
                   sa.column('target_id', sa.Integer), sa.column('detail', sa.JSON), sa.column('ip', sa.String),
                   sa.column('user_agent', sa.String), sa.column('created_at', sa.DateTime),
                   sa.column('seq', sa.Integer), sa.column('hash', sa.String))
    conn = op.get_bind()
    prev, seq = audit_chain.GENESIS, 0
    for row in conn.execute(sa.select(log).order_by(log.c.id)).all():
        seq += 1
        prev = audit_chain.link(prev, audit_chain.canonical(seq, row.actor_id, row.action, row.target_type,
                                                            row.target_id, row.detail, row.ip, None,
                                                            row.created_at))
        conn.execute(sa.update(log).where(log.c.id == row.id).values(seq=seq, hash=prev))


def downgrade():
    with op.batch_alter_table('codes') as batch:
        batch.drop_column('ct_format')
    audit_chain.unprotect(op.get_bind())
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_constraint('uq_audit_log_seq', type_='unique')
        batch.drop_column('hash')
        batch.drop_column('seq')
        batch.drop_column('user_agent')
    with op.batch_alter_table('entitlements') as batch:
        batch.alter_column('owner_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('orders') as batch:
        batch.alter_column('buyer_id', existing_type=sa.Integer(), nullable=False)
