"""the purge's mark of what it judged, so the next purge looks again only at what may
have ended since

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_purge_marks',
    sa.Column('rules', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('judged_through', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('judged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retention_months', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('rules', name=op.f('pk_ledger_purge_marks'))
    )


def downgrade():
    op.drop_table('ledger_purge_marks')
