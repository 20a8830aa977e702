"""one chain per subject (a record has at most one successor), site collection tokens,
and the receipts a browser may hold stale

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('collection_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_collection_tokens_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_collection_tokens_token_hash'))
    )
    with op.batch_alter_table('collection_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_tokens_site_id'), ['site_id'], unique=False)

    op.create_table('stale_receipts',
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('site_key', sa.String(length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('receipt_id', name=op.f('pk_stale_receipts'))
    )
    with op.batch_alter_table('stale_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_stale_receipts_site_expiry', ['site_key', 'expires_at'], unique=False)

    # Records are immutable, so histories that forked before this revision stay as they
    # are; the index then covers only the records appended from now on.
    connection = op.get_bind()
    last_fork = connection.execute(sa.text(
        "SELECT max(seq) FROM consent_records WHERE previous_receipt_id IN ("
        " SELECT previous_receipt_id FROM consent_records"
        " WHERE previous_receipt_id IS NOT NULL"
        " GROUP BY previous_receipt_id HAVING count(*) > 1)"
    )).scalar()
    where = {} if last_fork is None else {
        'sqlite_where': sa.text(f'seq > {int(last_fork)}'),
        'postgresql_where': sa.text(f'seq > {int(last_fork)}'),
    }
    # (not in batch mode: SQLite can add an index without copying the ledger's table)
    op.create_index('uq_consent_records_previous', 'consent_records',
                    ['previous_receipt_id'], unique=True, **where)


def downgrade():
    op.drop_index('uq_consent_records_previous', table_name='consent_records')
    with op.batch_alter_table('stale_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_stale_receipts_site_expiry')
    op.drop_table('stale_receipts')
    with op.batch_alter_table('collection_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_tokens_site_id'))
    op.drop_table('collection_tokens')
