"""Rules the database itself enforces, on both engines."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from cmp_server.accounts import audit
from cmp_server.sites import versions
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, ConfigVersion, ImmutableRowError, Site
from cmp_server.sites.registry import create_site
from tests.conftest import SHOP


@pytest.fixture
def published(app, catalogue):
    site = create_site(SHOP)
    versions.set_draft_vendors(site, [("google-analytics", None)])
    version, _ = versions.publish(site)
    return site, version


def test_published_versions_refuse_change_through_the_orm(published):
    _site, version = published
    version.content_hash = "sha256:forged"
    with pytest.raises(ImmutableRowError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(ConfigVersion, version.id))
    with pytest.raises(ImmutableRowError):
        db.session.commit()


@pytest.mark.parametrize("statement", [
    "UPDATE config_versions SET content_hash = 'sha256:forged'",
    "DELETE FROM config_versions",
    "UPDATE audit_events SET actor = 'somebody else'",
    "DELETE FROM audit_events",
])
def test_history_refuses_change_through_raw_sql(published, statement):
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    assert db.session.execute(text("SELECT count(*) FROM config_versions")).scalar() == 1


def test_audit_events_refuse_change_through_the_orm(app):
    event = audit.record("tester", "site.create", "site", "x")
    db.session.commit()
    event.actor = "somebody else"
    with pytest.raises(ImmutableRowError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).actor == "tester"


@pytest.mark.parametrize("column,value", [
    ("consent_lifetime_months", 14),
    ("consent_lifetime_months", 0),
    ("refusal_lifetime_months", 14),
])
def test_lifetimes_are_bounded_in_the_database(app, column, value):
    db.session.add(Site(key="k" * 16, name="Shop", **{column: value}))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_site_keys_are_unique(app):
    db.session.add_all([Site(key="same-key", name="A"), Site(key="same-key", name="B")])
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# PostgreSQL's trigger (migration 0016), SQLite's foreign key
REFUSED = "seal that does not exist|FOREIGN KEY constraint failed"


def test_seal_members_need_their_seal_and_stay_as_written(app):
    """A seal's members are checked against the seals (on PostgreSQL by a trigger per
    statement: a foreign key's query per member was most of sealing's work): a member of
    a seal that does not exist is refused however it is written, COPY included, and
    members stay append-only."""
    from consent_logs.ledger import copy_rows
    from cmp_server.consent.sealing import seal_now
    from cmp_server.models import LEDGER_TABLES, ledger

    seal_now(batch_size=10)  # registers the key; nothing to seal yet
    ledger.append(db.session.connection(), {
        "record_format": 1, "receipt_id": "r-1", "subject_id": "visitor-a-000000001",
        "site": "site-key", "issued_at": "2026-01-01T00:00:00Z",
        "expires_at": "2027-01-01T00:00:00Z", "state": "refused"}, 0)
    db.session.commit()
    sealed = seal_now(batch_size=10)[0]
    members = LEDGER_TABLES.seal_members
    for rows in ([(sealed.number + 1, 0, 999)], [(sealed.number, 5, 998), (sealed.number + 7, 0, 997)]):
        with pytest.raises(IntegrityError, match=REFUSED), db.engine.begin() as conn:
            copy_rows(conn, members, ("seal_number", "position", "record_seq"), rows)
        with pytest.raises(IntegrityError, match=REFUSED), db.engine.begin() as conn:
            conn.execute(members.insert(), [dict(zip(("seal_number", "position", "record_seq"), row))
                                            for row in rows])
    for statement in ("UPDATE ledger_seal_members SET position = 9",
                      "DELETE FROM ledger_seal_members"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_seal_members")).scalar() == 1
    assert ledger.verify(db.session.connection()) == 1
