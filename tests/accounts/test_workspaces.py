"""Workspaces: a second workspace's people reach nothing of the first one (404, as if it
did not exist) through the admin API, the compliance API and the console; a workspace's
admin manages its members; a vendor whose purposes or legal basis change asks visitors
again once published."""
from __future__ import annotations

import copy

import pytest

from cmp_server.accounts import members, workspaces
from cmp_server.sites import versions
from cmp_server.sites.versions import consent_scope
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, CollectionToken, Site, User, Vendor
from cmp_server.consent.receipts import record_consent
from cmp_server.accounts.users import create_user
from cmp_server.sites.vendors import save_custom_vendor
from tests.conftest import SHOP, console_login
from tests.support.token_client import TokenClient

PASSWORD = "a long enough password"
ORIGIN = "https://shop.example"
NECESSARY = {"legal_basis": "strictly_necessary", "purposes": ["necessary"]}


@pytest.fixture
def rival(app):
    """A second workspace, "Rival", with its own marketer, compliance officer and admin."""
    app.config["SESSION_COOKIE_SECURE"] = False
    workspace = workspaces.create_workspace({"name": "Rival"}, "test")
    people = {role: create_user({"email": f"{role}@rival.example", "password": PASSWORD,
                                 "role": role, "workspace": workspace.id})
              for role in ("marketer", "compliance", "admin")}
    return workspace, people


@pytest.fixture
def owned(shop):
    """The shop's site (in Default), a consent on it, and a custom vendor of Default's."""
    site, _ = shop
    receipt = record_consent({"site": site.key, "config_version": 1, "action": "accept_all",
                              "language": "en"}, None, ORIGIN).receipt
    document = copy.deepcopy(db.session.get(Vendor, "mixpanel").document)
    document.update(id="own-crm", name="Own CRM")
    save_custom_vendor(document, "test", workspace_id=site.workspace_id)
    return site, receipt["receipt_id"], document


def test_another_workspaces_site_is_unknown_through_the_apis(app, owned, rival):
    site, consent_id, document = owned
    marketer = TokenClient(app, rival[1]["marketer"])
    admin = f"/api/v1/admin/sites/{site.key}"
    for method, path, body in [
        ("GET", admin, None), ("PATCH", admin, {"name": "Taken over"}),
        ("GET", f"{admin}/draft", None), ("PATCH", f"{admin}/draft", {"vendors": []}),
        ("POST", f"{admin}/publish", None),
        ("GET", f"{admin}/analytics?from=2026-01-01&to=2027-01-01", None),
        ("GET", f"{admin}/collection-tokens", None),
        ("POST", f"{admin}/collection-tokens", {"name": "mine now"}),
        ("PUT", "/api/v1/admin/vendors/own-crm", {**document, **NECESSARY}),
    ]:
        answer = marketer(method, path, body)
        assert answer.status_code == 404, (method, path, answer.json)
    assert marketer("GET", "/api/v1/admin/sites").json == []
    listed = {v["id"] for v in marketer("GET", "/api/v1/admin/vendors?q=crm").json}
    assert "own-crm" not in listed
    officer = TokenClient(app, rival[1]["compliance"])
    export = officer("GET", f"/api/v1/compliance/sites/{site.key}/export?from=2026-01-01&to=2030-01-01")
    assert export.status_code == 404
    lookup = officer("GET", f"/api/v1/compliance/consents/{consent_id}")
    assert lookup.status_code == 422, lookup.json
    assert "no record" in str(lookup.json["errors"]), lookup.json
    # and nothing changed
    db.session.expire_all()
    assert db.session.get(Site, site.id).name == SHOP["name"]
    assert db.session.get(Vendor, "own-crm").legal_basis == "consent"


def test_a_marketer_of_both_workspaces_reaches_both(app, owned, rival):
    site, _, _ = owned
    both = rival[1]["marketer"]
    members.add_member(db.session.get(workspaces.Workspace, site.workspace_id),
                          {"email": both.email, "role": "marketer"}, "test")
    api = TokenClient(app, both)
    assert [s["key"] for s in api("GET", "/api/v1/admin/sites").json] == [site.key]
    unsure = api("POST", "/api/v1/admin/sites", {"name": "Where?"})
    assert unsure.status_code == 422 and "workspace" in unsure.json["errors"]["json"]
    made = api("POST", "/api/v1/admin/sites", {"name": "Rival shop", "workspace": rival[0].id})
    assert made.status_code == 201 and made.json["workspace"] == rival[0].id


def test_a_site_cannot_use_another_workspaces_custom_vendor(app, owned, rival):
    marketer = TokenClient(app, rival[1]["marketer"])
    key = marketer("POST", "/api/v1/admin/sites", {"name": "Rival shop"}).json["key"]
    answer = marketer("PATCH", f"/api/v1/admin/sites/{key}/draft", {"vendors": [{"id": "own-crm"}]})
    assert answer.status_code == 422
    assert "unknown vendor 'own-crm'" in str(answer.json["errors"]), answer.json
    # the id is taken platform-wide: the answer says so and nothing more
    taken = marketer("POST", "/api/v1/admin/vendors", owned[2])
    assert taken.status_code == 422 and taken.json["errors"]["json"]["id"] == ["'own-crm' is taken"]


def console(app, user):
    client = app.test_client()
    assert console_login(client, user.email, PASSWORD).status_code == 302
    with client.session_transaction() as session:
        return client, session["csrf"]


def test_another_workspaces_site_is_unknown_in_the_console(app, owned, rival):
    site, consent_id, _ = owned
    versions.publish(site)
    client, csrf = console(app, rival[1]["marketer"])
    site_routes = [rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/console/sites/<site_key>/")]
    assert len(site_routes) >= 13
    for rule in site_routes:  # every page of a site, read or posted
        path = rule.rule.replace("<site_key>", site.key).replace("<int:number>", "1")
        for method in {"GET", "POST"} & rule.methods:
            answer = client.open(path, method=method,
                                 data={"csrf_token": csrf, "name": "Taken over", "vendor": "hotjar"})
            assert answer.status_code == 404, (method, path)
    assert client.get(f"/console/go?site={site.key}").status_code == 404
    db.session.expire_all()
    assert site.name == SHOP["name"] and len(site.versions) == 1
    assert SHOP["name"] not in client.get("/console/").get_data(as_text=True)
    officer, csrf = console(app, rival[1]["compliance"])
    export = officer.post("/console/compliance/export", data={
        "csrf_token": csrf, "site": site.key, "from": "2026-01-01", "to": "2030-01-01"})
    assert export.status_code == 404
    assert site.key not in officer.get("/console/compliance/export").get_data(as_text=True)
    lookup = officer.get(f"/console/compliance/subjects?consent_id={consent_id}")
    assert "no record with this consent id" in lookup.get_data(as_text=True)
    erased = officer.post("/console/compliance/subjects/erase",
                          data={"csrf_token": csrf, "consent_id": consent_id, "confirm": "yes"})
    assert erased.status_code == 422
    trail = officer.get("/console/audit").get_data(as_text=True)
    assert site.key not in trail and "own-crm" not in trail


def test_a_workspace_admin_manages_its_members_and_nothing_else(app, owned, rival):
    workspace, people = rival
    admin = TokenClient(app, people["admin"])
    members_url = f"/api/v1/admin/workspaces/{workspace.id}/members"
    # only the operator makes accounts: a workspace's admin who made one (with a password
    # of their choosing) for an e-mail another workspace adds later would hold its keys there
    unknown = admin("POST", members_url, {"email": "new@rival.example", "role": "marketer",
                                      "password": PASSWORD})
    assert unknown.status_code == 422 and "password" in unknown.json["errors"]["json"]
    unknown = admin("POST", members_url, {"email": "new@rival.example", "role": "marketer"})
    assert unknown.status_code == 422
    assert "the platform's operator makes accounts" in unknown.json["errors"]["json"]["email"][0]
    assert db.session.query(User).filter_by(email="new@rival.example").count() == 0
    create_user({"email": "new@rival.example", "password": PASSWORD})
    added = admin("POST", members_url, {"email": "new@rival.example", "role": "marketer"})
    assert added.status_code == 201 and added.json["email"] == "new@rival.example"
    new_id = added.json["user"]
    assert admin("PATCH", f"{members_url}/{new_id}", {"role": "compliance"}).json["role"] == "compliance"
    own = admin("PATCH", f"{members_url}/{people['admin'].id}", {"role": "marketer"})
    assert own.status_code == 422 and "another admin" in own.json["errors"]["json"]["role"][0]
    assert admin("DELETE", f"{members_url}/{new_id}").status_code == 204
    assert [m["email"] for m in admin("GET", members_url).json] == [
        "admin@rival.example", "compliance@rival.example", "marketer@rival.example"]
    # the Default workspace's members_url, its users and new workspaces are not theirs
    assert admin("GET", f"/api/v1/admin/workspaces/{owned[0].workspace_id}/members").status_code == 404
    assert admin("GET", "/api/v1/admin/users").status_code == 403
    assert admin("POST", "/api/v1/admin/workspaces", {"name": "Mine"}).status_code == 403
    assert TokenClient(app, people["marketer"])("GET", members_url).status_code == 403
    assert [w["name"] for w in admin("GET", "/api/v1/admin/workspaces").json] == ["Rival"]


def test_an_operator_runs_every_workspace(app, owned, rival):
    operator = create_user({"email": "op@platform.example", "password": PASSWORD, "operator": True})
    api = TokenClient(app, operator)
    assert [w["name"] for w in api("GET", "/api/v1/admin/workspaces").json] == ["Default", "Rival"]
    assert [s["key"] for s in api("GET", "/api/v1/admin/sites").json] == [owned[0].key]
    made = api("POST", "/api/v1/admin/workspaces", {"name": "Agency"})
    assert made.status_code == 201
    twice = api("POST", "/api/v1/admin/workspaces", {"name": "Agency"})
    assert twice.status_code == 422 and "already exists" in twice.json["errors"]["json"]["name"][0]
    added = api("POST", f"/api/v1/admin/workspaces/{made.json['id']}/members",
                {"email": "marketer@rival.example", "role": "admin"})
    assert added.status_code == 201
    assert {m["workspace"] for m in api("GET", "/api/v1/admin/users").json
            if m["email"] == "marketer@rival.example" for m in m["memberships"]} == {
        rival[0].id, made.json["id"]}


def test_the_console_workspace_pages(app, rival):
    workspace, people = rival
    client, csrf = console(app, people["admin"])
    assert "Rival" in client.get("/console/workspaces").get_data(as_text=True)
    page = f"/console/workspaces/{workspace.id}"
    create_user({"email": "auditor@rival.example", "password": PASSWORD})
    added = client.post(page, data={"csrf_token": csrf, "action": "add", "role": "compliance",
                                    "email": "auditor@rival.example"})
    assert "Added auditor@rival.example as compliance." in added.get_data(as_text=True)
    assert "member.add" in client.get("/console/audit").get_data(as_text=True)
    assert client.get("/console/workspaces/1").status_code == 404  # Default: not theirs
    made = client.post("/console/workspaces", data={"csrf_token": csrf, "name": "Mine"})
    assert made.status_code == 403
    marketer, _ = console(app, people["marketer"])
    assert marketer.get(page).status_code == 403


def test_a_vendors_new_purposes_or_legal_basis_ask_again(app, owned):
    """The review's attack: a custom vendor rewritten to strictly necessary was published
    as merely changed, so it would have run without asking anyone."""
    site, _, document = owned
    versions.set_draft_vendors(site, [*((v.vendor_id, v.retention_tier) for v in site.draft.vendors),
                                     ("own-crm", None)])
    first, _ = versions.publish(site)
    assert "vendor:own-crm" in consent_scope(first.content)
    save_custom_vendor({**document, **NECESSARY}, "test", "own-crm")
    pending = versions.draft_document(site)["pending"]
    assert pending["vendors_changed"] == ["own-crm"] and pending["asks_again"] is True
    second, changes = versions.publish(site)
    assert changes["asks_again"] is True
    assert "vendor:own-crm~1" in consent_scope(second.content)
    # an unrelated edit keeps the revision: nobody is asked again for nothing
    save_custom_vendor({**document, **NECESSARY, "name": "Own CRM 2"},
                       "test", "own-crm")
    third, changes = versions.publish(site)
    assert changes["asks_again"] is False
    assert "vendor:own-crm~1" in consent_scope(third.content)


def test_the_cli_makes_workspaces_and_their_people(app, runner):
    made = runner.invoke(args=["cmp", "create-workspace", "--name", "Agency"])
    assert made.exit_code == 0, made.output
    site = runner.invoke(args=["cmp", "create-site", "--name", "Client shop"])
    assert site.exit_code != 0 and "workspace" in site.output  # two workspaces now
    site = runner.invoke(args=["cmp", "create-site", "--name", "Client shop",
                               "--workspace", "Agency"])
    assert site.exit_code == 0, site.output
    key = site.output.strip().splitlines()[-1]
    assert db.session.query(Site).filter_by(key=key).one().workspace.name == "Agency"
    user = runner.invoke(args=["cmp", "create-user", "--email", "m@agency.example", "--role",
                               "marketer", "--workspace", "Agency", "--password-stdin"],
                         input=PASSWORD + "\n")
    assert user.exit_code == 0 and "(marketer in Agency)" in user.output, user.output
    moved = runner.invoke(args=["cmp", "update-user", "--email", "m@agency.example", "--role",
                                "admin", "--workspace", "Default"])
    assert "admin in Default, marketer in Agency" in moved.output, moved.output
    unknown = runner.invoke(args=["cmp", "create-site", "--name", "x", "--workspace", "Nope"])
    assert unknown.exit_code != 0 and "no workspace 'Nope'" in unknown.output


def test_membership_changes_are_audited(app, rival):
    workspace, people = rival
    members.change_member(members.membership(workspace, people["marketer"].id),
                             {"role": "compliance"}, people["admin"])
    event = db.session.query(AuditEvent).filter_by(action="member.role").one()
    assert event.actor == "admin@rival.example" and event.entity_id == str(workspace.id)
    assert event.after == {"user": people["marketer"].id, "role": "compliance"}


def test_a_vendor_taken_off_and_put_back_with_new_terms_asks_again(app, owned):
    """Compared with the newest version the vendor was in, not merely the newest."""
    site, _, document = owned
    kept = [(v.vendor_id, v.retention_tier) for v in site.draft.vendors]
    versions.set_draft_vendors(site, [*kept, ("own-crm", None)])
    versions.publish(site)
    versions.set_draft_vendors(site, kept)
    versions.publish(site)
    save_custom_vendor({**document, "purposes": ["analytics", "marketing"]}, "test", "own-crm")
    versions.set_draft_vendors(site, [*kept, ("own-crm", None)])
    version, changes = versions.publish(site)
    assert "vendor:own-crm~1" in consent_scope(version.content) and changes["asks_again"]


def test_scan_reports_match_only_the_sites_own_workspaces_vendors(app, owned, rival):
    from cmp_server.scanner import jobs

    mine = db.session.get(Site, owned[0].id)
    theirs = workspaces.get_workspace(rival[0].id)
    in_rival = Site(key="rival-site", name="Rival", workspace_id=theirs.id)
    matched = {d["id"] for d in jobs.catalogue_documents(mine)}
    assert "own-crm" in matched and "mixpanel" in matched
    assert "own-crm" not in {d["id"] for d in jobs.catalogue_documents(in_rival)}
    assert "own-crm" not in {d["id"] for d in jobs.catalogue_documents(None)}


def test_leaving_a_workspace_revokes_the_collection_tokens_one_made(app, owned, rival):
    from cmp_server.accounts.tokens import create_collection_token

    site = owned[0]
    marketer = rival[1]["marketer"]
    default = workspaces.get_workspace(site.workspace_id)
    members.add_member(default, {"email": marketer.email, "role": "marketer"}, "test")
    theirs, _ = create_collection_token(site, "their server", marketer)
    ours, _ = create_collection_token(site, "our server", None)
    members.remove_member(members.membership(default, marketer.id), "test")
    db.session.expire_all()
    assert db.session.get(CollectionToken, theirs.id).revoked_at is not None
    assert db.session.get(CollectionToken, ours.id).revoked_at is None
