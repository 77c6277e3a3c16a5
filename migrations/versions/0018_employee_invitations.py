"""employee_invitations: an existing consumer joins a company's directory only after accepting

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'employee_invitations',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('organization_id', sa.Integer(), sa.ForeignKey('organizations.id'), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('department_id', sa.Integer(), sa.ForeignKey('departments.id'), nullable=False),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('employee_no', sa.String(32), nullable=False),
        sa.Column('email', sa.String(254), nullable=True),
        sa.Column('phone', sa.String(20), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('created_by', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('answered_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_employee_invitations_user_id', 'employee_invitations', ['user_id'])
    op.create_index('ix_employee_invitations_org_status', 'employee_invitations', ['organization_id', 'status'])


def downgrade():
    op.drop_index('ix_employee_invitations_org_status', table_name='employee_invitations')
    op.drop_index('ix_employee_invitations_user_id', table_name='employee_invitations')
    op.drop_table('employee_invitations')
