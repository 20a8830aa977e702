"""one chain per subject (a record has at most one successor), record sequence numbers
never reused on SQLite, site collection tokens, and the receipts a browser may hold stale

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
        batch_op.create_index('ix_stale_receipts_site_marked', ['site_key', 'marked_at'], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        never_reuse_sequence_numbers()

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


def never_reuse_sequence_numbers():
    """SQLite hands out max(rowid) + 1 unless the table says AUTOINCREMENT: after an
    erasure or a purge deleted the newest records, the next record took a deleted one's
    number, which its tombstone and seal membership still hold (the erasure then failed on
    the tombstone's key, and the record counted as sealed while in no seal). The table is
    rebuilt with AUTOINCREMENT, its counter past every number ever used."""
    op.execute("DROP TRIGGER IF EXISTS consent_records_no_update")
    op.drop_index('ix_consent_records_subject', table_name='consent_records')
    op.rename_table('consent_records', 'consent_records_before_0007')
    op.create_table('consent_records',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('site', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('previous_receipt_id', sa.String(length=36), nullable=True),
    sa.Column('retention_months', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_consent_records')),
    sa.UniqueConstraint('receipt_id', name=op.f('uq_consent_records_receipt_id')),
    sqlite_autoincrement=True,
    )
    columns = ("seq, receipt_id, site, subject_id, issued_at, expires_at, state, "
               "previous_receipt_id, retention_months, data, leaf_hash")
    op.execute(f"INSERT INTO consent_records ({columns}) "
               f"SELECT {columns} FROM consent_records_before_0007")
    op.drop_table('consent_records_before_0007')
    op.create_index('ix_consent_records_subject', 'consent_records',
                    ['site', 'subject_id', 'seq'], unique=False)
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'consent_records'")
    op.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'consent_records', max(n) FROM ("
               " SELECT coalesce(max(seq), 0) AS n FROM consent_records"
               " UNION ALL SELECT coalesce(max(record_seq), 0) FROM ledger_tombstones"
               " UNION ALL SELECT coalesce(max(record_seq), 0) FROM ledger_seal_members)")
    op.execute("CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records "
               "BEGIN SELECT RAISE(ABORT, 'consent_records rows are append-only'); END")


def downgrade():
    op.drop_index('uq_consent_records_previous', table_name='consent_records')
    with op.batch_alter_table('stale_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_stale_receipts_site_marked')
    op.drop_table('stale_receipts')
    with op.batch_alter_table('collection_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_tokens_site_id'))
    op.drop_table('collection_tokens')
