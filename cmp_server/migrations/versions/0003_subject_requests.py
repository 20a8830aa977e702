"""subject requests: the data-subject request log, kept 24 months

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 06:14:43.389361

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subject_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('site_key', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by', sa.String(length=254), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.CheckConstraint("kind IN ('access', 'download', 'change', 'erasure')", name=op.f('ck_subject_requests_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_requests'))
    )
    with op.batch_alter_table('subject_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_requests_receipt_id'), ['receipt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_requests_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_requests_site_key'), ['site_key'], unique=False)



def downgrade():
    with op.batch_alter_table('subject_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_requests_site_key'))
        batch_op.drop_index(batch_op.f('ix_subject_requests_received_at'))
        batch_op.drop_index(batch_op.f('ix_subject_requests_receipt_id'))

    op.drop_table('subject_requests')
