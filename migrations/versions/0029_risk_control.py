"""risk control: rules, thresholds, black/white lists, the decision log, account freezes, order reviews; the
shipped default rules (app/risk/defaults.py).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 05:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade():
    rules = op.create_table(
        'risk_rules',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('key', sa.String(length=40), nullable=True),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('conditions', sa.JSON(), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('point', sa.String(length=20), nullable=True),
        sa.Column('campaign_id', sa.Integer(), sa.ForeignKey('campaigns.id'), nullable=True),
        sa.Column('observe', sa.Boolean(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('key', name=op.f('uq_risk_rules_key')),
    )
    op.create_index('ix_risk_rules_priority', 'risk_rules', ['priority', 'id'])
    op.create_table(
        'risk_thresholds',
        sa.Column('point', sa.String(length=20), primary_key=True),
        sa.Column('challenge_at', sa.Integer(), nullable=True),
        sa.Column('review_at', sa.Integer(), nullable=True),
        sa.Column('block_at', sa.Integer(), nullable=True),
        sa.Column('updated_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'risk_list_entries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('type', sa.String(length=10), nullable=False),
        sa.Column('value', sa.String(length=254), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('kind', 'type', 'value', name='uq_risk_list_entry'),
    )
    op.create_index('ix_risk_list_lookup', 'risk_list_entries', ['type', 'value'])
    op.create_table(
        'risk_decisions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('point', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('organization_id', sa.Integer(), sa.ForeignKey('organizations.id'), nullable=True),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('device', sa.String(length=32), nullable=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('note', sa.String(length=40), nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('features', sa.JSON(), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_risk_decisions_user', 'risk_decisions', ['user_id', 'id'])
    op.create_index('ix_risk_decisions_ip', 'risk_decisions', ['ip', 'id'])
    op.create_index('ix_risk_decisions_device', 'risk_decisions', ['device', 'id'])
    op.create_index('ix_risk_decisions_order', 'risk_decisions', ['order_id'])
    op.create_index('ix_risk_decisions_point', 'risk_decisions', ['point', 'id'])
    op.create_index('ix_risk_decisions_created_at', 'risk_decisions', ['created_at'])
    op.create_table(
        'order_reviews',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=False),
        sa.Column('decision_id', sa.Integer(), sa.ForeignKey('risk_decisions.id'), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('escalated_at', sa.DateTime(), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('note', sa.String(length=500), nullable=False),
        sa.Column('froze_account', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('order_id', name=op.f('uq_order_reviews_order_id')),
    )
    op.create_index('ix_order_reviews_status_due', 'order_reviews', ['status', 'due_at'])
    for table in ('users', 'organizations'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('frozen_at', sa.DateTime(), nullable=True))
            batch.add_column(sa.Column('frozen_reason', sa.String(length=200), nullable=True))

    from datetime import datetime, timezone

    from app.risk.defaults import RULES

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.bulk_insert(rules, [dict(rule, observe=False, enabled=True, campaign_id=None, created_by_id=None,
                                created_at=now, updated_at=now) for rule in RULES])


def downgrade():
    for table in ('organizations', 'users'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('frozen_reason')
            batch.drop_column('frozen_at')
    op.drop_table('order_reviews')
    op.drop_table('risk_decisions')
    op.drop_table('risk_list_entries')
    op.drop_table('risk_thresholds')
    op.drop_table('risk_rules')
