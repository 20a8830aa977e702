"""workspaces: sites and custom vendors belong to one; users are members with a role
per workspace; admins become operators

Everything an install held before moves into one workspace, "Default": its sites, its
custom vendors, and every user as a member with the role they had. Admins also become
operators (they managed users before, and still do).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

DEFAULT = 1


def upgrade():
    op.create_table('workspaces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces')),
    sa.UniqueConstraint('name', name=op.f('uq_workspaces_name'))
    )
    op.execute(f"INSERT INTO workspaces (id, name, created_at) "
               f"VALUES ({DEFAULT}, 'Default', CURRENT_TIMESTAMP)")
    if op.get_bind().dialect.name == 'postgresql':  # the id was given: move the sequence on
        op.execute("SELECT setval('workspaces_id_seq', (SELECT max(id) FROM workspaces))")
    op.create_table('memberships',
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'marketer', 'compliance')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_memberships_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'user_id', name=op.f('pk_memberships'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)
    op.execute(f"INSERT INTO memberships (workspace_id, user_id, role) "
               f"SELECT {DEFAULT}, id, role FROM users")

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operator', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute("UPDATE users SET operator = (role = 'admin')")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_role'), type_='check')
        batch_op.drop_column('role')
        batch_op.alter_column('operator', server_default=None)

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.Integer(), nullable=False,
                                      server_default=str(DEFAULT)))
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.alter_column('workspace_id', server_default=None)
        batch_op.create_index(batch_op.f('ix_sites_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_sites_workspace_id_workspaces'), 'workspaces', ['workspace_id'], ['id'])

    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_vendors_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_vendors_workspace_id_workspaces'), 'workspaces', ['workspace_id'], ['id'])
    op.execute(f"UPDATE vendors SET workspace_id = {DEFAULT} WHERE source = 'custom'")


def downgrade():
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_vendors_workspace_id_workspaces'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_vendors_workspace_id'))
        batch_op.drop_column('workspace_id')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sites_workspace_id_workspaces'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sites_workspace_id'))
        batch_op.drop_column('workspace_id')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=False,
                                      server_default='marketer'))
    # a user keeps their highest role of any workspace; operators become admins
    op.execute("UPDATE users SET role = COALESCE((SELECT m.role FROM memberships m "
               "WHERE m.user_id = users.id ORDER BY CASE m.role WHEN 'admin' THEN 0 "
               "WHEN 'marketer' THEN 1 ELSE 2 END LIMIT 1), 'marketer')")
    op.execute("UPDATE users SET role = 'admin' WHERE operator")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('role', server_default=None)
        batch_op.create_check_constraint(batch_op.f('ck_users_role'), "role IN ('admin', 'marketer', 'compliance')")
        batch_op.drop_column('operator')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))
    op.drop_table('memberships')
    op.drop_table('workspaces')
