"""each site's latest scan by the site scanner

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 08:10:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('site_scans',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_by', sa.String(length=254), nullable=False),
    sa.Column('urls', JSONDocument, nullable=False),
    sa.Column('report', JSONDocument, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f('ck_site_scans_status')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_scans_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', name=op.f('pk_site_scans'))
    )


def downgrade():
    op.drop_table('site_scans')
