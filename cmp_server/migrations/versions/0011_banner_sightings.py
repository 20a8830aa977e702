"""banner sightings: the origins the banner was last seen on, per site

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('banner_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_key', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_banner_sightings')),
    sa.UniqueConstraint('site_key', 'origin', name=op.f('uq_banner_sightings_site_key'))
    )


def downgrade():
    op.drop_table('banner_sightings')
