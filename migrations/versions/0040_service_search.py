"""service search: indexes for the customer-service search box (a code's last characters, a top-up account,
a reseller's own order number searched without its reseller).

Revision ID: 0040
Revises: 0035
Create Date: 2026-12-07 15:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0040'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_codes_tail', 'codes', ['tail'])
    op.create_index('ix_entitlements_account', 'entitlements', ['account'])
    op.create_index('ix_orders_client_order_no', 'orders', ['client_order_no'])


def downgrade():
    op.drop_index('ix_orders_client_order_no', table_name='orders')
    op.drop_index('ix_entitlements_account', table_name='entitlements')
    op.drop_index('ix_codes_tail', table_name='codes')
