"""service cases: after-sales cases (售后工单) on delivered units, their timeline and screenshots' metadata.

Revision ID: 0039
Revises: 0042, 0040
Create Date: 2026-12-07 15:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0039'
# 0035 in tag cases-core; on this branch it joins the heads of the branches merged in (unit-refunds' 0042,
# cs-console's 0040): the lead re-chains the migrations at merge time.
down_revision = ('0042', '0040')
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'service_cases',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_no', sa.String(32), nullable=False, unique=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('entitlement_id', sa.Integer(), sa.ForeignKey('entitlements.id'), nullable=True),
        sa.Column('open_entitlement_id', sa.Integer(), sa.ForeignKey('entitlements.id'), nullable=True,
                  unique=True),
        sa.Column('owner_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('reseller_id', sa.Integer(), sa.ForeignKey('resellers.id'), nullable=True),
        sa.Column('source', sa.String(12), nullable=False),
        sa.Column('reason', sa.String(20), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('escalated', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('escalated_at', sa.DateTime(), nullable=True),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('assignee_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('opened_by', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('resolved_by', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('resolved_at', sa.DateTime(), nullable=True),
        sa.Column('resolution_note', sa.String(500), nullable=False),
        sa.Column('refund_fen', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('key', sa.String(80), nullable=True, unique=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('refund_fen >= 0', name='refund_nonneg'),
    )
    op.create_index('ix_service_cases_order_id', 'service_cases', ['order_id'])
    op.create_index('ix_service_cases_entitlement_id', 'service_cases', ['entitlement_id'])
    op.create_index('ix_service_cases_owner_id', 'service_cases', ['owner_id'])
    op.create_index('ix_service_cases_reseller_id', 'service_cases', ['reseller_id'])
    op.create_index('ix_service_cases_status_due', 'service_cases', ['status', 'due_at'])
    op.create_table(
        'service_case_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('service_cases.id'), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('actor_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('body', sa.String(1000), nullable=False),
        sa.Column('internal', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_service_case_events_case_id', 'service_case_events', ['case_id'])
    op.create_table(
        'service_case_attachments',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('service_cases.id'), nullable=False),
        sa.Column('stored', sa.String(64), nullable=False, unique=True),
        sa.Column('filename', sa.String(120), nullable=False),
        sa.Column('content_type', sa.String(20), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('uploaded_by', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_service_case_attachments_case_id', 'service_case_attachments', ['case_id'])


def downgrade():
    op.drop_table('service_case_attachments')
    op.drop_table('service_case_events')
    op.drop_table('service_cases')
