"""A visitor exercises the seed's three rights with their token: see (and download) their
data, change it, delete it. Over real HTTP, on both engines."""
from __future__ import annotations

import json
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, AuditEvent, SubjectRequest, ledger
from tests.support.http import call

ORIGIN = {"Origin": "https://shop.example"}  # the banner on the shop's page


def form(url: str, **fields) -> tuple[int, str, dict]:
    answer = call("POST", url, raw=urllib.parse.urlencode(fields).encode(),
                  content_type="application/x-www-form-urlencoded")
    return answer.status, answer.body.decode(), answer.headers


@pytest.fixture
def visitor(live_server, shop):
    """A visitor who accepted everything, then narrowed it to analytics."""
    site, version = shop
    first = call("POST", f"{live_server}/api/v1/consents", {
        "site": site.key, "config_version": 1, "action": "accept_all", "language": "sv"},
        headers=ORIGIN).json
    second = call("POST", f"{live_server}/api/v1/consents", {
        "site": site.key, "config_version": 1, "action": "custom", "language": "sv",
        "purposes": {"analytics": True}, "token": first["token"]}, headers=ORIGIN).json
    return first, second


def test_the_visitor_sees_their_history_in_plain_language(live_server, visitor):
    first, second = visitor
    status, html, _ = form(f"{live_server}/my-consent/", token=second["token"])
    assert status == 200
    articles = re.findall(r'<article data-receipt="([^"]+)"', html)
    assert articles == [second["receipt"]["receipt_id"], first["receipt"]["receipt_id"]]  # newest first
    assert 'href="https://shop.example/" rel="noopener">Back to Shop</a>' in html
    assert "You accepted all purposes." in html and "(superseded)" in html
    assert "You chose purpose by purpose." in html and "(active)" in html
    assert "Allowed: Statistik." in html and "Refused: Marknadsföring." in html
    requests = db.session.query(SubjectRequest).all()
    assert [(r.kind, r.receipt_id) for r in requests] == [("access", second["receipt"]["receipt_id"])]
    assert second["receipt"]["subject_id"] not in json.dumps(
        [r.outcome for r in requests] + [r.receipt_id for r in requests])


def test_the_visitor_downloads_their_records(live_server, visitor):
    _, second = visitor
    answer = call("POST", f"{live_server}/my-consent/download",
                  raw=urllib.parse.urlencode({"token": second["token"]}).encode(),
                  content_type="application/x-www-form-urlencoded")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="my-consent.json"'
    document = answer.json
    assert document["subject_id"] == second["receipt"]["subject_id"]
    assert [r["status"] for r in document["records"]] == ["superseded", "active"]


def test_the_visitor_changes_their_choice(live_server, visitor):
    _, second = visitor
    status, html, _ = form(f"{live_server}/my-consent/change", token=second["token"],
                           **{"purpose-marketing": "on", "language": "sv"})
    assert status == 200 and "Your new choice is recorded" in html
    # the updated history, the site by its name, and when the site applies it
    assert len(re.findall(r"<article data-receipt=", html)) == 3
    assert "Your choices on <strong>Shop</strong>" in html
    assert "Shop applies it from the next page of the site you open" in html
    records = ledger.subject_records(db.session.connection(), second["receipt"]["site"],
                                     second["receipt"]["subject_id"])
    latest = records[-1][1]
    assert latest["purposes"] == {"necessary": True, "analytics": False, "marketing": True}
    assert latest["previous_receipt_id"] == second["receipt"]["receipt_id"]
    assert latest["vendors"]["facebook"] and not latest["vendors"]["mixpanel"]
    assert latest["collection_method"] == "api"


def test_the_visitor_erases_their_records(live_server, visitor):
    first, second = visitor
    subject = second["receipt"]["subject_id"]
    unconfirmed, html, _ = form(f"{live_server}/my-consent/erase", token=second["token"])
    assert unconfirmed == 400 and "confirm" in html
    status, html, _ = form(f"{live_server}/my-consent/erase", token=second["token"], confirm="yes")
    assert status == 200 and "2 consent records were erased" in html
    conn = db.session.connection()
    assert ledger.subject_records(conn, second["receipt"]["site"], subject) == []
    tombstones = conn.execute(select(LEDGER_TABLES.tombstones)).all()
    assert len(tombstones) == 2
    assert all(subject not in t.redacted and '"region"' not in t.redacted for t in tombstones)
    assert all(t.reason.startswith("erasure request ") for t in tombstones)
    assert ledger.verify(conn) == 2  # the seals still verify
    verify = call("POST", f"{live_server}/api/v1/receipts/verify", {"token": second["token"]}).json
    assert verify["valid"] is False
    assert db.session.query(SubjectRequest).filter_by(kind="erasure").count() == 1
    assert db.session.query(AuditEvent).filter_by(action="subject.erase").count() == 1
    again, html, _ = form(f"{live_server}/my-consent/", token=second["token"])
    assert again == 400 and "no consent records are held" in html


def test_an_invalid_token_is_refused_with_a_reason(live_server, visitor):
    status, html, _ = form(f"{live_server}/my-consent/", token="not-a-token")
    assert status == 400 and "malformed" in html
    assert db.session.query(SubjectRequest).count() == 0


def test_the_token_form_and_its_fragment_script(live_server):
    page = call("GET", f"{live_server}/my-consent/").body.decode()
    assert 'id="token-form"' in page and "/my-consent/fill.js" in page
    script = call("GET", f"{live_server}/my-consent/fill.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert b"location.hash" in script.body


def test_the_request_log_is_kept_24_months(runner, app):
    old = datetime.now(timezone.utc) - timedelta(days=25 * 31)
    recent = datetime.now(timezone.utc) - timedelta(days=23 * 30)
    for when in (old, recent):
        db.session.add(SubjectRequest(kind="access", site_key="k", receipt_id="r",
                                      received_at=when, completed_at=when))
    db.session.commit()
    result = runner.invoke(args=["cmp", "purge"])
    assert "removed 1 data-subject request log entries older than 24 months" in result.output
    assert db.session.query(SubjectRequest).count() == 1


def test_a_refused_erasure_keeps_the_visitor_on_their_record(live_server, visitor):
    _, second = visitor
    status, html, _ = form(f"{live_server}/my-consent/erase", token=second["token"])
    assert status == 400 and "Tick the box to confirm the erasure." in html
    assert len(re.findall(r"<article data-receipt=", html)) == 2  # still their history
    assert "Services refused:" in html
