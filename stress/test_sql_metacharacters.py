"""Hostile input: SQL metacharacters in every search, filter and key a caller types (the
catalogue search, the audit trail's filters, site keys, consent ids), on both engines: no
server error, no effect on the data, and matching as literal text."""
from __future__ import annotations

import copy
from urllib.parse import quote

import pytest

from cmp_server.accounts.tokens import create_token
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, Site, Vendor
from cmp_server.sites.vendors import save_custom_vendor
from tests.accounts.test_auth import log_in, people  # noqa: F401  (the fixture, reused)

pytestmark = pytest.mark.stress
PAYLOADS = ["'; DROP TABLE sites; --", "' OR '1'='1", '" OR ""="', "%", "_", "%_%", "\\",
            "\\%", "a\\_b", "100%", "O'Brien", "') UNION SELECT * FROM users --", "*", "[a-z]",
            "$1", ":name", "?", "\u2019 OR 1=1", "NULL"]
ODD_NAME = "100% O'Brien_\\ \"Analytics\""  # a vendor whose name holds the metacharacters


def add_odd_vendor() -> None:
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="odd-analytics", name=ODD_NAME)
    save_custom_vendor(document, "hostile input")


def literal_matches(text: str) -> list[str]:
    names = db.session.execute(db.select(Vendor.name)).scalars()
    return sorted(name for name in names if text.strip().lower() in name.lower())


def test_sql_metacharacters_match_literally_and_change_nothing(app, shop, people, figures,
                                                              engine_name):
    add_odd_vendor()
    site, _ = shop
    sites, events = db.session.query(Site).count(), db.session.query(AuditEvent).count()
    _, secret = create_token(people["admin"], "metacharacters")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    console = log_in(app.test_client(), "admin")
    checked = 0
    for payload in PAYLOADS + [ODD_NAME]:
        found = api.get(f"/api/v1/admin/vendors?q={quote(payload)}", headers=headers)
        assert found.status_code == 200, (payload, found.json)
        assert sorted(v["name"] for v in found.json) == literal_matches(payload), payload
        for field in ("actor", "action", "entity"):
            page = console.get(f"/console/audit?{field}={quote(payload)}")
            assert page.status_code == 200, (field, payload)
            assert "<td>" not in page.get_data(as_text=True), (field, payload)  # matches nothing
        key = quote(payload, safe="")
        for method, path, expected in (
                ("GET", f"/api/v1/sites/{key}/banner", 404),
                ("POST", f"/api/v1/sites/{key}/impressions", 404),
                ("GET", f"/api/v1/admin/sites/{key}", 404),
                ("GET", f"/api/v1/compliance/consents/{key}", 422)):
            answer = api.open(path, method=method, headers=headers)
            assert answer.status_code in (expected, 404), (path, answer.status_code)
        lookup = console.get(f"/console/compliance/subjects?consent_id={quote(payload)}")
        assert lookup.status_code < 500, payload
        checked += 1
    assert db.session.query(Site).count() == sites
    assert db.session.query(AuditEvent).count() >= events  # look-ups are audited, never removed
    assert [v["name"] for v in api.get("/api/v1/admin/vendors?q=100%25",
                                       headers=headers).json] == [ODD_NAME]
    figures.add("hostile input", f"SQL metacharacters on {engine_name}",
                f"{checked} payloads x (catalogue search, 3 audit filters, 4 site-key and "
                "consent-id routes, subject look-up): 0 server errors, literal matching, "
                "nothing changed")
