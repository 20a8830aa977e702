"""Migrations: one head, an empty database upgrades on both engines, and the migrated
schema is exactly what the models describe."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from cmp_server.extensions import MIGRATIONS_DIR, db
from tests.conftest import make_app

EXPECTED_TABLES = {
    "sites", "site_origins", "purposes", "vendors", "vendor_purposes", "draft_configs",
    "draft_vendors", "config_versions", "users", "audit_events", "alembic_version",
    "consent_records", "ledger_seals", "ledger_seal_members", "ledger_keys", "ledger_tombstones",
    "subject_requests", "api_tokens", "login_failures", "banner_impressions", "site_scans",
    "collection_tokens", "stale_receipts",
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
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade()
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sites")).scalar() == 0
