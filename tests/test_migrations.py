"""Migrations: one head, an empty database upgrades on both engines, and the migrated
schema is exactly what the models describe."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from cmp_server.models import compared_by_migrations
from cmp_server.platform.extensions import MIGRATIONS_DIR, db
from tests.conftest import make_app

EXPECTED_TABLES = {
    "sites", "site_origins", "purposes", "vendors", "vendor_purposes", "draft_configs",
    "draft_vendors", "config_versions", "users", "audit_events", "alembic_version",
    "consent_records", "ledger_seals", "ledger_seal_members", "ledger_keys", "ledger_tombstones",
    "subject_requests", "api_tokens", "login_failures", "banner_impressions", "banner_sightings", "site_scans",
    "collection_tokens", "stale_receipts", "console_sessions", "rate_limit_counts",
    "workspaces", "memberships", "global_vendor_lists", "proof_exports", "ledger_purge_marks",
}


def test_migrations_have_exactly_one_head():
    heads = ScriptDirectory(MIGRATIONS_DIR).get_heads()
    assert len(heads) == 1, heads


@pytest.fixture
def empty_app(empty_database_url, instance_path):
    app = make_app(empty_database_url, instance_path)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_an_empty_database_upgrades_to_the_models(empty_app):
    assert inspect(db.engine).get_table_names() == []
    upgrade()
    assert set(inspect(db.engine).get_table_names()) == EXPECTED_TABLES
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "render_as_batch": True,
            "include_object": compared_by_migrations(connection.dialect.name)})
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sites")).scalar() == 0


@pytest.fixture
def old_sqlite_app(tmp_path, instance_path):
    app = make_app(f"sqlite:///{tmp_path / 'before-0007.sqlite3'}", instance_path)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_0007_keeps_the_ledger_and_never_reuses_an_erased_records_number(old_sqlite_app):
    """A SQLite ledger whose newest records were erased before 0007: the rebuilt table
    keeps every record and its append-only trigger, and the next record is numbered past
    every tombstone. (PostgreSQL's sequences never reused numbers.)"""
    upgrade(revision="0006")
    columns = ("seq, receipt_id, site, subject_id, issued_at, expires_at, state, "
               "retention_months, data, leaf_hash")
    with db.engine.begin() as connection:
        for seq in (1, 2, 3):
            connection.execute(text(
                f"INSERT INTO consent_records ({columns}) VALUES (:seq, :id, 's', 'subject', "
                "'2026-01-01 00:00:00', '2027-01-01 00:00:00', 'given', 0, '{}', 'h')"),
                {"seq": seq, "id": f"receipt-{seq}"})
        connection.execute(text(
            "INSERT INTO ledger_tombstones (record_seq, receipt_id, site, leaf_hash, reason, "
            "removed_at) VALUES (5, 'receipt-5', 's', 'h', 'erasure', '2026-02-01 00:00:00')"))
    upgrade()
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM consent_records")).scalar() == 3
        connection.execute(text(
            f"INSERT INTO consent_records ({columns.replace('seq, ', '')}) VALUES ('receipt-6', "
            "'s', 'subject', '2026-03-01 00:00:00', '2027-03-01 00:00:00', 'given', 0, '{}', 'h')"))
        assert connection.execute(text(
            "SELECT seq FROM consent_records WHERE receipt_id = 'receipt-6'")).scalar() == 6
    with pytest.raises(Exception, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("UPDATE consent_records SET state = 'refused'"))


def test_0010_moves_an_install_into_one_default_workspace(empty_app):
    """Sites, custom vendors and users of an install made before workspaces land in
    "Default"; each user keeps their role there, and admins become operators."""
    upgrade(revision="0009")
    with db.engine.begin() as connection:
        for email, role in (("a@shop.example", "admin"), ("m@shop.example", "marketer")):
            connection.execute(text(
                "INSERT INTO users (email, password_hash, role, active, created_at) VALUES "
                "(:email, 'x', :role, true, CURRENT_TIMESTAMP)"), {"email": email, "role": role})
        connection.execute(text(
            "INSERT INTO sites (key, name, default_language, consent_lifetime_months, "
            "refusal_lifetime_months, controller, created_at) VALUES "
            "('site-key', 'Shop', 'en', 12, 6, '{}', CURRENT_TIMESTAMP)"))
        for vendor_id, source in (("own-crm", "custom"), ("listed", "catalogue")):
            connection.execute(text(
                "INSERT INTO vendors (id, name, legal_basis, source, document, content_hash, "
                "updated_at) VALUES (:id, :id, 'consent', :source, '{}', 'h', CURRENT_TIMESTAMP)"),
                {"id": vendor_id, "source": source})
        # rows that hang off the rebuilt tables (SQLite rebuilds a table to alter it)
        connection.execute(text(
            "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) VALUES "
            "(1, 'ci', 'cmpt_x', 'hash', CURRENT_TIMESTAMP)"))
        connection.execute(text("INSERT INTO site_origins (site_id, origin) VALUES "
                                "(1, 'https://shop.example')"))
        connection.execute(text("INSERT INTO purposes (id, required, position, document, "
                                "content_hash, updated_at) VALUES ('analytics', false, 1, '{}', "
                                "'h', CURRENT_TIMESTAMP)"))
        connection.execute(text("INSERT INTO vendor_purposes VALUES ('own-crm', 'analytics')"))
    upgrade()
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT id, name FROM workspaces")).all() == [(1, "Default")]
        assert connection.execute(text(
            "SELECT u.email, u.operator, m.workspace_id, m.role FROM users u JOIN memberships m "
            "ON m.user_id = u.id ORDER BY u.email")).all() == [
            ("a@shop.example", True, 1, "admin"), ("m@shop.example", False, 1, "marketer")]
        assert connection.execute(text("SELECT workspace_id FROM sites")).scalar() == 1
        assert dict(connection.execute(text("SELECT id, workspace_id FROM vendors")).all()) == {
            "own-crm": 1, "listed": None}
        for table in ("api_tokens", "site_origins", "vendor_purposes"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1, table
        # a workspace made after the migration gets a fresh id
        connection.execute(text(
            "INSERT INTO workspaces (name, created_at) VALUES ('Agency', CURRENT_TIMESTAMP)"))
        assert connection.execute(text(
            "SELECT id FROM workspaces WHERE name = 'Agency'")).scalar() == 2
