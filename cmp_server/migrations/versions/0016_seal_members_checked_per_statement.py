"""a seal's members are checked against the seals once per statement on PostgreSQL, not
by a foreign key row by row

PostgreSQL checks a foreign key with a query per inserted row: for the 10,000 members of
a seal that was most of the server's work in sealing (6 of 9 s of its CPU at a million
records). A trigger per statement checks each seal the batch names once instead (no
measurable cost: sealing a million records 5.8 s with the key, 3.0 s with the trigger or
with no check at all). SQLite keeps its key: it checks each row in process, cheaply (a
trigger per row in its place cost a fifth more sealing time). Either way a member of a
seal that does not exist is refused; seals are append-only, so none can go away under its
members. The models keep the key; the migrations' comparison skips it on PostgreSQL
(cmp_server.models.compared_by_migrations).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 00:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

FOREIGN_KEY = 'fk_ledger_seal_members_seal_number_ledger_seals'
REFUSAL = "ledger_seal_members: a member of a seal that does not exist"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint(FOREIGN_KEY, 'ledger_seal_members', type_='foreignkey')
    op.execute(f"""
        CREATE FUNCTION cmp_members_need_seals() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- each seal named once (a seal's members come in one statement): looking up
            -- every member's cost a third of what the foreign key did
            IF EXISTS (SELECT 1 FROM (SELECT DISTINCT seal_number FROM added) AS named
                       WHERE NOT EXISTS (SELECT 1 FROM ledger_seals
                                         WHERE number = named.seal_number)) THEN
                RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("CREATE TRIGGER ledger_seal_members_need_seals AFTER INSERT "
               "ON ledger_seal_members REFERENCING NEW TABLE AS added "
               "FOR EACH STATEMENT EXECUTE FUNCTION cmp_members_need_seals()")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER ledger_seal_members_need_seals ON ledger_seal_members")
    op.execute("DROP FUNCTION cmp_members_need_seals()")
    op.create_foreign_key(FOREIGN_KEY, 'ledger_seal_members', 'ledger_seals',
                          ['seal_number'], ['number'])
