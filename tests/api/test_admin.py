"""The admin API as a marketer's automation uses it: an API token, JSON, real validation."""
from __future__ import annotations

import copy

import pytest

from cmp_server.accounts.tokens import create_token
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, Vendor
from cmp_server.accounts.users import create_user
from tests.conftest import SHOP
from tests.support.token_client import TokenClient


@pytest.fixture
def api(app, catalogue):
    marketer = create_user({"email": "m@shop.example", "password": "a long enough password",
                            "role": "marketer"})
    return TokenClient(app, marketer, "/api/v1/admin")


def test_a_marketer_puts_a_site_in_front_of_visitors(api, client):
    created = api("POST", "/sites", SHOP)
    assert created.status_code == 201, created.json
    key = created.json["key"]
    assert created.json["published_version"] is None
    patched = api("PATCH", f"/sites/{key}", {"origins": ["https://www.shop.example"],
                                             "consent_lifetime_months": 13})
    assert patched.json["origins"] == ["https://www.shop.example"]
    assert patched.json["consent_lifetime_months"] == 13
    assert patched.json["refusal_lifetime_months"] == 6  # untouched by the partial update
    draft = api("PATCH", f"/sites/{key}/draft", {
        "vendors": [{"id": "piwik-pro", "retention_tier": "enterprise"}, {"id": "mixpanel"}],
        "texts": {"sv": {"title": "Dina val"}},
        "theme": {"accent": "#0a6b2d", "radius": "8px"},
        "region_rules": {"US-CA": "opt-out"},
    })
    assert draft.status_code == 200, draft.json
    assert draft.json["pending"]["vendors_added"] == ["mixpanel", "piwik-pro"]
    assert draft.json["pending"]["asks_again"] is True
    published = api("POST", f"/sites/{key}/publish")
    assert published.status_code == 201
    assert published.json["version"] == 1 and published.json["changes"]["asks_again"] is True
    assert api("POST", f"/sites/{key}/publish").json["version"] == 1  # nothing changed
    banner = client.get(f"/api/v1/sites/{key}/banner?lang=sv").json
    assert banner["texts"] == {"title": "Dina val"}
    assert banner["theme"] == {"accent": "#0a6b2d", "radius": "8px"}
    assert [v["retention_months"] for v in banner["vendors"]] == [25, 24]
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert {"site.create", "site.update", "draft.vendors", "draft.update", "config.publish"} <= set(actions)


@pytest.mark.parametrize("body,field", [
    ({"texts": {"xx": {"title": "?"}}}, "texts"),
    ({"texts": {"sv": {"banner": "?"}}}, "texts"),
    ({"theme": {"accent": "red; background: url(x)"}}, "theme.accent"),
    ({"theme": {"shadow": "#000"}}, "theme"),
    # a trailing newline passed the patterns' "$" (found by stress/test_xss.py)
    ({"theme": {"accent": "#0a6b2d\n"}}, "theme.accent"),
    ({"theme": {"radius": "8px\n"}}, "theme.radius"),
    ({"theme": {"font": "Arial\n"}}, "theme.font"),
    ({"region_rules": {"DE": "none"}}, "region_rules.DE"),
    ({"vendors": [{"id": "piwik-pro", "retention_tier": "gold"}]}, "vendors[0].retention_tier"),
    ({"vendors": [{"id": "nobody"}]}, "vendors[0]"),
    ({"colour": "red"}, "colour"),
    ({"google_consent_mode": {"mode": "always"}}, "google_consent_mode.mode"),
    ({"google_consent_mode": {"mode": []}}, "google_consent_mode.mode"),
    ({"google_consent_mode": {"url_passthrough": "yes"}}, "google_consent_mode.url_passthrough"),
    ({"google_consent_mode": {"wait": True}}, "google_consent_mode.wait"),
])
def test_bad_drafts_are_refused_naming_the_field(api, body, field):
    key = api("POST", "/sites", SHOP).json["key"]
    answer = api("PATCH", f"/sites/{key}/draft", body)
    assert answer.status_code == 422, answer.json
    assert any(name.startswith(field) for name in answer.json["errors"]["json"]), answer.json
    assert api("GET", f"/sites/{key}/draft").json["vendors"] == []


def test_bad_sites_are_refused(api):
    answer = api("POST", "/sites", {**SHOP, "consent_lifetime_months": 24, "origins": ["ftp://x"]})
    assert answer.status_code == 422
    assert set(answer.json["errors"]["json"]) == {"consent_lifetime_months", "origins"}
    assert api("GET", "/sites/nope").status_code == 404


def test_catalogue_search_and_custom_vendors(api):
    names = [v["id"] for v in api("GET", "/vendors?q=google").json]
    assert names == ["google-ads", "google-analytics", "google-tag-manager"]
    marketing = {v["id"] for v in api("GET", "/vendors?purpose=marketing").json}
    assert "facebook" in marketing and "mixpanel" not in marketing
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="in-house-analytics", name="In-house analytics")
    added = api("POST", "/vendors", document)
    assert added.status_code == 201 and added.json["source"] == "custom"
    assert api("POST", "/vendors", document).status_code == 422  # the id is taken
    document["name"] = "In-house analytics v2"
    assert api("PUT", "/vendors/in-house-analytics", document).json["name"] == "In-house analytics v2"
    catalogue = copy.deepcopy(db.session.get(Vendor, "hotjar").document)
    refused = api("PUT", "/vendors/hotjar", catalogue)
    assert refused.status_code == 422 and "vendors/" in refused.json["errors"]["json"]["id"][0]
    broken = {**document, "purposes": ["tracking"]}
    assert api("PUT", "/vendors/in-house-analytics", broken).status_code == 422


def test_only_operators_manage_users(app, api):
    assert api("GET", "/users").status_code == 403
    workspace_admin = create_user({"email": "w@shop.example", "password": "a long enough password",
                                   "role": "admin"})
    as_workspace_admin = {"Authorization": f"Bearer {create_token(workspace_admin, 'w')[1]}"}
    assert app.test_client().get("/api/v1/admin/users", headers=as_workspace_admin
                                 ).status_code == 403
    admin = create_user({"email": "a@shop.example", "password": "a long enough password",
                         "operator": True})
    _, secret = create_token(admin, "admin automation")
    headers = {"Authorization": f"Bearer {secret}"}
    made = app.test_client().post("/api/v1/admin/users", headers=headers, json={
        "email": "c@shop.example", "password": "another long password", "role": "compliance"})
    assert made.status_code == 201
    assert made.json["memberships"] == [{"workspace": 1, "role": "compliance"}]
    assert "password" not in made.json
    listed = app.test_client().get("/api/v1/admin/users", headers=headers).json
    assert [u["email"] for u in listed] == ["a@shop.example", "c@shop.example", "m@shop.example",
                                            "w@shop.example"]


# found by the stress suite's hostile bodies (stress/test_malformed_bodies.py)

@pytest.mark.parametrize("field,value", [
    ("name", "Shop\u0000AB"),
    ("name", "Shop \udc00"),
    ("controller", {**SHOP["controller"], "address": "Storgatan\u0000 1"}),
])
def test_text_no_database_can_store_is_refused_naming_the_field(api, field, value):
    answer = api("POST", "/sites", {**SHOP, field: value})
    assert answer.status_code == 422, answer.json
    [(name, reasons)] = answer.json["errors"]["json"].items()
    assert name.startswith(field) and "NUL bytes or unpaired surrogates" in reasons[0]
    assert api("GET", "/sites").json == []


def test_bodies_that_are_not_json_or_too_large_are_refused(app, api):
    key = api("POST", "/sites", SHOP).json["key"]
    marketer = create_user({"email": "raw@shop.example", "password": "a long enough password",
                            "role": "marketer"})
    headers = {"Authorization": f"Bearer {create_token(marketer, 'raw')[1]}"}

    def send(method, path, raw, content_type="application/json"):
        return app.test_client().open(f"/api/v1/admin{path}", method=method, data=raw,
                                      headers={**headers, "Content-Type": content_type})

    # not JSON: once read as no body at all, so the PATCH answered 200 having done nothing
    answer = send("PATCH", f"/sites/{key}", b'{"name": "Renamed"}', "text/plain")
    assert answer.status_code == 415 and answer.json["code"] == 415
    assert send("POST", "/sites", b'{"name": "' + b"a" * 300_000 + b'"}').status_code == 413
    # nested deeper than the parser recurses, a number too long to convert: once a 500
    for unreadable in (b"[" * 5000 + b"]" * 5000, b'{"name": ' + b"9" * 5000 + b"}"):
        answer = send("POST", "/sites", unreadable)
        assert answer.status_code == 400 and answer.json["errors"]["json"], answer.json
    assert api("GET", f"/sites/{key}").json["name"] == SHOP["name"]


def test_catalogue_search_matches_percent_and_underscore_literally(api):
    """Found by the stress suite: % and _ were LIKE wildcards, so q=% listed everything."""
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="odd-analytics", name="100% Analytics_v2")
    assert api("POST", "/vendors", document).status_code == 201
    for query, expected in (("%25", ["100% Analytics_v2"]), ("_", ["100% Analytics_v2"]),
                            ("0%25%20A", ["100% Analytics_v2"]), ("s%25v", [])):
        assert [v["name"] for v in api("GET", f"/vendors?q={query}").json] == expected, query


# found by the stress suite's XSS payloads (stress/test_xss.py): "$" in a pattern also
# matches before a final newline

@pytest.mark.parametrize("change,field", [
    (lambda d: d.update(id="in-house\n"), "id"),
    (lambda d: d.update(hosts=["cdn.in-house.example\n"]), "hosts"),
    (lambda d: d["cookies"][0].update(domain=".in-house.example\n"), "cookies"),
    (lambda d: d["company"].update(country="US\n"), "company"),
    (lambda d: d["hosting"].update(locations=["US\n"]), "hosting"),
    (lambda d: d.update(purposes=["analytics\n"]), "purposes"),
])
def test_custom_vendor_values_with_a_trailing_newline_are_refused(api, change, field):
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="in-house", name="In-house analytics")
    change(document)
    answer = api("POST", "/vendors", document)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["json"], answer.json
    assert db.session.get(Vendor, "in-house\n") is None


def test_a_custom_vendor_cannot_claim_to_read_google_consent_mode(api):
    """An advanced Consent Mode site runs such vendors' scripts before consent: only the
    catalogue's vendors may say so."""
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="in-house", name="In-house analytics", consent_signals=["google_consent_mode"])
    answer = api("POST", "/vendors", document)
    assert answer.status_code == 422 and "consent_signals" in answer.json["errors"]["json"]
    assert db.session.get(Vendor, "in-house") is None


def test_saving_a_site_with_the_origins_it_has_keeps_them(api):
    created = api("POST", "/sites", SHOP).json
    origins = ["https://shop.example", "https://www.shop.example"]
    for body in ({"origins": origins}, {"origins": origins, "name": "Shop 2"},
                 {"origins": origins[1:]}):
        answer = api("PATCH", f"/sites/{created['key']}", body)
        assert answer.status_code == 200, answer.json
        assert answer.json["origins"] == body["origins"]

