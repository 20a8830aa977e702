"""rate limit counters in the database, for a limit that holds across app servers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 01:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_limit_counts',
    sa.Column('client', sa.String(length=32), nullable=False),
    sa.Column('window', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('client', 'window', name=op.f('pk_rate_limit_counts'))
    )


def downgrade():
    op.drop_table('rate_limit_counts')
