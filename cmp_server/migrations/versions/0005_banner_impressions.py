"""banner impressions per site and day, for consent analytics

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 06:59:09.552252

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('banner_impressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_key', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_banner_impressions')),
    sa.UniqueConstraint('site_key', 'day', name=op.f('uq_banner_impressions_site_key'))
    )


def downgrade():
    op.drop_table('banner_impressions')
