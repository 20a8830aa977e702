"""consent ledger: records, seals, seal members, keys, tombstones

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 05:38:07.347641

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consent_records',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
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
    sa.UniqueConstraint('receipt_id', name=op.f('uq_consent_records_receipt_id'))
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index('ix_consent_records_subject', ['site', 'subject_id', 'seq'], unique=False)

    op.create_table('ledger_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_ledger_keys'))
    )
    op.create_table('ledger_tombstones',
    sa.Column('record_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('site', sa.String(length=32), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('redacted', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('record_seq', name=op.f('pk_ledger_tombstones')),
    sa.UniqueConstraint('receipt_id', name=op.f('uq_ledger_tombstones_receipt_id'))
    )
    with op.batch_alter_table('ledger_tombstones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_tombstones_site'), ['site'], unique=False)

    op.create_table('ledger_seals',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('previous_root', sa.String(length=64), nullable=True),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['ledger_keys.key_id'], name=op.f('fk_ledger_seals_key_id_ledger_keys')),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_ledger_seals'))
    )
    op.create_table('ledger_seal_members',
    sa.Column('seal_number', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('record_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['seal_number'], ['ledger_seals.number'], name=op.f('fk_ledger_seal_members_seal_number_ledger_seals')),
    sa.PrimaryKeyConstraint('seal_number', 'position', name=op.f('pk_ledger_seal_members')),
    sa.UniqueConstraint('record_seq', name=op.f('uq_ledger_seal_members_record_seq'))
    )
    create_history_triggers()


# Which statements each ledger table refuses. Records may be deleted (the purge replaces
# a record by its tombstone) but never rewritten; everything else is insert-only.
REFUSED = {
    "consent_records": ("UPDATE",),
    "ledger_seals": ("UPDATE", "DELETE"),
    "ledger_seal_members": ("UPDATE", "DELETE"),
    "ledger_keys": ("UPDATE", "DELETE"),
    "ledger_tombstones": ("UPDATE", "DELETE"),
}


def create_history_triggers():
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, verbs in REFUSED.items():
        if postgres:  # cmp_refuse_change() comes from revision 0001
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE {' OR '.join(verbs)} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cmp_refuse_change()"
            )
            continue
        for verb in verbs:
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
            )


def drop_history_triggers():
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, verbs in REFUSED.items():
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            continue
        for verb in verbs:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb.lower()}")


def downgrade():
    drop_history_triggers()
    op.drop_table('ledger_seal_members')
    op.drop_table('ledger_seals')
    op.drop_table('ledger_tombstones')
    op.drop_table('ledger_keys')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_records_subject')

    op.drop_table('consent_records')
