"""IAB TCF: the Global Vendor List versions fetched from IAB Europe, and a draft's TCF
setting (on or off, its GVL vendors, its Google ATPs); empty means off

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table(
        'global_vendor_lists',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('policy_version', sa.Integer(), nullable=False),
        sa.Column('last_updated', sa.String(length=40), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('document', JSON_DOCUMENT, nullable=False),
        sa.Column('translations', JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_global_vendor_lists')),
        sa.UniqueConstraint('version', name=op.f('uq_global_vendor_lists_version')),
    )
    with op.batch_alter_table('draft_configs') as batch:
        batch.add_column(sa.Column('tcf', JSON_DOCUMENT, nullable=False, server_default='{}'))


def downgrade():
    with op.batch_alter_table('draft_configs') as batch:
        batch.drop_column('tcf')
    op.drop_table('global_vendor_lists')
