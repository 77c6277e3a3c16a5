"""outbound_emails.user_id may be empty: the sign-up confirmation goes to an address without an account

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 19:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_emails') as batch:
        batch.alter_column('user_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM outbound_emails WHERE user_id IS NULL")
    with op.batch_alter_table('outbound_emails') as batch:
        batch.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
