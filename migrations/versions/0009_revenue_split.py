"""revenue split: partners, and each bundle component's partner and share

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('name', name=op.f('uq_partners_name'))
    )
    with op.batch_alter_table('bundle_components', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('share_bp', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_bundle_components_partner_id_partners'), 'partners',
                                    ['partner_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_bundle_components_share_range'), 'share_bp >= 0 AND share_bp <= 10000')
        batch_op.create_check_constraint(op.f('ck_bundle_components_share_has_partner'), 'share_bp = 0 OR partner_id IS NOT NULL')


def downgrade():
    with op.batch_alter_table('bundle_components', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_bundle_components_share_has_partner'), type_='check')
        batch_op.drop_constraint(op.f('ck_bundle_components_share_range'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_bundle_components_partner_id_partners'), type_='foreignkey')
        batch_op.drop_column('share_bp')
        batch_op.drop_column('partner_id')
    op.drop_table('partners')
