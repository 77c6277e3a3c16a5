"""code cases: an after-sales case about one code of a reseller's stocked wholesale order (no unit rows).

Revision ID: 0043
Revises: 0041
Create Date: 2026-12-07 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0043'
down_revision = '0041'
branch_labels = None
depends_on = None

CODE_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('service_cases') as batch:
        batch.add_column(sa.Column('code_id', CODE_ID, nullable=True))
        batch.add_column(sa.Column('open_code_id', CODE_ID, nullable=True))
        batch.create_foreign_key('fk_service_cases_code_id_codes', 'codes', ['code_id'], ['id'])
        batch.create_foreign_key('fk_service_cases_open_code_id_codes', 'codes', ['open_code_id'], ['id'])
        batch.create_unique_constraint('uq_service_cases_open_code_id', ['open_code_id'])
        batch.create_index('ix_service_cases_code_id', ['code_id'])


def downgrade():
    with op.batch_alter_table('service_cases') as batch:
        batch.drop_index('ix_service_cases_code_id')
        batch.drop_constraint('uq_service_cases_open_code_id', type_='unique')
        batch.drop_constraint('fk_service_cases_open_code_id_codes', type_='foreignkey')
        batch.drop_constraint('fk_service_cases_code_id_codes', type_='foreignkey')
        batch.drop_column('open_code_id')
        batch.drop_column('code_id')
