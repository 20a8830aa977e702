"""The console's IAB TCF page: turn TCF on, pick GVL vendors, list Google ATPs; saved into
the draft, for the site's own workspace only."""
from __future__ import annotations

import re
from html import unescape

import pytest

from cmp_server.accounts import workspaces
from cmp_server.accounts.users import create_user
from cmp_server.models import AuditEvent
from cmp_server.platform.extensions import db
from cmp_server.sites import gvl
from cmp_server.sites.registry import create_site
from tests.conftest import SHOP, console_login
from tests.support.gvl import write_test_gvl

PASSWORD = "a long enough password"


def logged_in(client, email: str):
    assert console_login(client, email, PASSWORD).status_code == 302
    with client.session_transaction() as session:
        client.csrf = session["csrf"]
    return client


@pytest.fixture
def marketer(app, client, catalogue):
    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": PASSWORD, "role": "marketer"})
    return logged_in(client, "m@shop.example")


@pytest.fixture
def stored(app, tmp_path):
    write_test_gvl(tmp_path, deleted=[5])
    return gvl.store_gvl(*gvl.load_gvl_dir(tmp_path))[0]


def post(client, site, **form):
    return client.post(f"/console/sites/{site.key}/tcf", data={"csrf_token": client.csrf, **form})


def error_text(html: str, field: str) -> list[str]:
    return [unescape(m) for m in re.findall(
        rf'<span class="field-error" id="{field}-error">(.*?)</span>', html)]


def test_without_a_gvl_the_page_says_how_to_fetch_one_and_refuses_to_turn_tcf_on(marketer):
    site = create_site(SHOP)
    page = marketer.get(f"/console/sites/{site.key}/tcf").get_data(as_text=True)
    assert "No Global Vendor List is stored yet." in page and "cmp gvl-fetch" in page
    assert 'href="/console/sites/%s/tcf" aria-current="page">IAB TCF' % site.key in page
    refused = post(marketer, site, **{"tcf-enabled": "on"})
    assert refused.status_code == 422
    assert error_text(refused.get_data(as_text=True), "tcf-enabled") == [
        "No Global Vendor List is stored: run `flask cmp gvl-fetch` first"]
    db.session.expire_all()
    assert site.draft.tcf == {}


def test_a_marketer_turns_tcf_on_picks_vendors_and_atps_and_it_is_audited(marketer, stored):
    site = create_site(SHOP)
    page = marketer.get(f"/console/sites/{site.key}/tcf").get_data(as_text=True)
    assert "Version <strong>3</strong>" in page and "fetched " in page
    assert 'id="gvl-vendor-5"' not in page and 'id="gvl-vendor-8"' in page  # deleted: not offered
    assert 'data-filters="tcf-vendors"' in page and "<script>" not in page
    saved = post(marketer, site, **{"tcf-enabled": "on", "gvl-vendor": ["21", "2"],
                                    "google_atps": "89, Meta, https://www.facebook.com/privacy\n\n"
                                                   "1301, Acme, Inc., https://acme.example/privacy\n"})
    assert saved.status_code == 302 and saved.location.endswith("saved=1")
    db.session.expire_all()
    assert site.draft.tcf == {"enabled": True, "vendors": [2, 21], "google_atps": [
        {"id": 89, "name": "Meta", "policy_url": "https://www.facebook.com/privacy"},
        {"id": 1301, "name": "Acme, Inc.", "policy_url": "https://acme.example/privacy"}]}
    event = db.session.execute(db.select(AuditEvent).filter_by(action="draft.update")).scalars().one()
    assert event.after["tcf"]["vendors"] == [2, 21] and event.entity_id == site.key
    assert event.actor == "m@shop.example"
    page = marketer.get(f"/console/sites/{site.key}/tcf?saved=1").get_data(as_text=True)
    assert "Visitors see it once you publish." in page and "Review and publish" in page
    ticked = re.findall(r'name="gvl-vendor" value="(\d+)" id="gvl-vendor-\d+" checked', page)
    listed = re.findall(r'name="gvl-vendor" value="(\d+)"', page)
    assert ticked == ["2", "21"] and listed[:2] == ["2", "21"]  # the chosen ones first
    assert "1301, Acme, Inc., https://acme.example/privacy" in page
    publish = marketer.get(f"/console/sites/{site.key}/publish").get_data(as_text=True)
    assert "TCF vendor added" in publish and "The Trade Desk (21)" in publish


def test_errors_are_shown_per_field_and_per_line_and_nothing_is_saved(marketer, stored):
    site = create_site(SHOP)
    refused = post(marketer, site, **{"tcf-enabled": "on", "gvl-vendor": ["2", "999"],
                                      "google_atps": "89, Meta, https://meta.example/p\n"
                                                     "Google\n"
                                                     "90, Other, http://other.example/p\n"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert error_text(html, "google_atps") == [
        "Line 2: write the provider's id, name and privacy policy address, separated by "
        "commas, like 89, Meta, https://www.facebook.com/privacy/policy"]
    refused = post(marketer, site, **{"tcf-enabled": "on", "gvl-vendor": ["2", "999"],
                                      "google_atps": "89, Meta, https://meta.example/p\n\n"
                                                     "90, Other, http://other.example/p\n"})
    html = refused.get_data(as_text=True)
    assert error_text(html, "google_atps") == [
        "Line 3, policy address: Required: the provider's privacy policy, an https:// address"]
    assert error_text(html, "vendors") == ["Vendor 999 is not in the Global Vendor List (version 3)"]
    assert 'id="gvl-vendor-2" checked' in html  # what was typed comes back
    assert "90, Other, http://other.example/p" in html
    db.session.expire_all()
    assert site.draft.tcf == {}


def test_very_large_inputs_are_refused_with_a_clear_message(marketer, stored):
    site = create_site(SHOP)
    many = "".join(f"{i}, Provider {i}, https://p{i}.example/privacy\n" for i in range(1, 502))
    refused = post(marketer, site, **{"tcf-enabled": "on", "google_atps": many})
    assert refused.status_code == 422
    assert error_text(refused.get_data(as_text=True), "google_atps") == [
        "At most 500 Google ATPs, got 501"]
    huge = post(marketer, site, google_atps="x" * (600 * 1024))
    assert huge.status_code == 413
    db.session.expire_all()
    assert site.draft.tcf == {}


def test_another_workspaces_marketer_can_neither_see_nor_change_the_page(app, marketer, stored):
    site = create_site(SHOP)
    rival = workspaces.create_workspace({"name": "Rival"}, "test")
    create_user({"email": "m@rival.example", "password": PASSWORD, "role": "marketer",
                 "workspace": rival.id})
    other = logged_in(app.test_client(), "m@rival.example")
    assert other.get(f"/console/sites/{site.key}/tcf").status_code == 404
    assert post(other, site, **{"tcf-enabled": "on", "gvl-vendor": ["2"]}).status_code == 404
    db.session.expire_all()
    assert site.draft.tcf == {}


def test_a_compliance_officer_cannot_change_it(app, marketer, stored):
    site = create_site(SHOP)
    create_user({"email": "c@shop.example", "password": PASSWORD, "role": "compliance"})
    officer = logged_in(app.test_client(), "c@shop.example")
    assert officer.get(f"/console/sites/{site.key}/tcf").status_code == 403
    assert post(officer, site, **{"tcf-enabled": "on"}).status_code == 403


def test_the_form_needs_its_csrf_token(marketer, stored):
    site = create_site(SHOP)
    answer = marketer.post(f"/console/sites/{site.key}/tcf", data={"tcf-enabled": "on"})
    assert answer.status_code in (400, 403)
    db.session.expire_all()
    assert site.draft.tcf == {}
