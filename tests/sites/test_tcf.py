"""A site's IAB TCF setting: checked against the stored Global Vendor List, kept in the
draft, frozen into a published version in the format the banner module relies on."""
from __future__ import annotations

import pytest

from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.sites import gvl, tcf, versions
from cmp_server.sites.registry import create_site
from cmp_server.accounts.users import create_user
from tests.conftest import SHOP
from tests.support.token_client import TokenClient
from tests.support.gvl import gvl_document, write_test_gvl

ATP = {"id": 89, "name": "Meta", "policy_url": "https://www.facebook.com/about/privacy/update"}


def store(tmp_path, version=3, **options):
    write_test_gvl(tmp_path / str(version), version=version, **options)
    return gvl.store_gvl(*gvl.load_gvl_dir(tmp_path / str(version)))[0]


@pytest.fixture
def site(app, catalogue, tmp_path):
    store(tmp_path, deleted=[5])
    app.config["CMP_TCF_CMP_ID"] = 300
    return create_site(SHOP)


def test_off_is_empty_and_always_fine(app):
    assert tcf.check({}) == {} and tcf.check({"enabled": False}) == {}
    assert tcf.frozen({}, app.config) is None


def test_enabling_needs_a_stored_gvl(app):
    assert tcf.check({"enabled": True}) == {
        "tcf.enabled": ["no Global Vendor List is stored: run `flask cmp gvl-fetch` first"]}
    assert tcf.check({"vendors": [1]})["tcf.vendors"] == [
        "no Global Vendor List is stored: run `flask cmp gvl-fetch` first"]


@pytest.mark.parametrize("setting, field, message", [
    ({"enabled": "yes"}, "tcf.enabled", "must be true or false"),
    ({"enabled": True, "vendors": [1, 999]}, "tcf.vendors[1]",
     "vendor 999 is not in the Global Vendor List (version 3)"),
    ({"enabled": True, "vendors": [5]}, "tcf.vendors[0]",
     "vendor 5 (Vendor 5 Ltd) was deleted from the Global Vendor List on 2026-06-01T00:00:00Z"),
    ({"enabled": True, "vendors": [1, 1]}, "tcf.vendors", "a vendor may appear once"),
    ({"enabled": True, "vendors": ["1"]}, "tcf.vendors", "must be a list of Global Vendor List vendor ids"),
    ({"enabled": True, "vendors": list(range(1001))}, "tcf.vendors", "at most 1000 vendors, got 1001"),
    ({"enabled": True, "google_atps": [ATP] * 501}, "tcf.google_atps", "at most 500 Google ATPs, got 501"),
    ({"enabled": True, "google_atps": [{**ATP, "policy_url": "http://meta.example/p"}]},
     "tcf.google_atps[0].policy_url", "required: the provider's privacy policy, an https:// address"),
    ({"enabled": True, "google_atps": [{**ATP, "name": "x" * 201}]},
     "tcf.google_atps[0].name", "required: 1 to 200 characters"),
    ({"enabled": True, "google_atps": [{**ATP, "name": " "}]},
     "tcf.google_atps[0].name", "required: 1 to 200 characters"),
    ({"enabled": True, "google_atps": [ATP, ATP]}, "tcf.google_atps[1].id", "provider 89 is listed twice"),
    ({"enabled": True, "google_atps": [{**ATP, "id": 0}]}, "tcf.google_atps[0].id",
     "required: Google's provider id, a whole number from 1"),
    ({"enabled": True, "gvl_url": "http://evil.example/"}, "tcf.gvl_url",
     "unknown setting; use one of enabled, vendors, google_atps"),
])
def test_check_names_the_field_and_why(site, setting, field, message):
    assert tcf.check(setting)[field] == [message]


def test_the_draft_keeps_the_setting_sorted_and_audited(site):
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [21, 2, 8],
                                         "google_atps": [{**ATP, "name": " Meta "}]}}, "test")
    db.session.expire_all()
    assert site.draft.tcf == {"enabled": True, "vendors": [2, 8, 21], "google_atps": [ATP]}
    assert versions.draft_document(site)["tcf"] == site.draft.tcf
    with pytest.raises(ServiceError) as refused:
        versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [999]},
                                     "texts": {"en": {"title": "Changed"}}})
    assert "tcf.vendors[0]" in refused.value.errors
    db.session.expire_all()
    assert site.draft.tcf["vendors"] == [2, 8, 21] and site.draft.texts == {}


def test_publishing_freezes_the_gvl_limited_to_the_sites_vendors(site, app):
    app.config["CMP_TCF_CMP_VERSION"] = 7
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [21, 2],
                                         "google_atps": [ATP]}})
    version, changes = versions.publish(site)
    frozen = version.content["tcf"]
    document = gvl_document(deleted=[5])
    assert frozen == {
        "cmp_id": 300, "cmp_version": 7,
        "gvl": {"gvlSpecificationVersion": 3, "vendorListVersion": 3, "tcfPolicyVersion": 5,
                "lastUpdated": document["lastUpdated"],
                **{section: document[section] for section in (
                    "purposes", "specialPurposes", "features", "specialFeatures", "stacks",
                    "dataCategories")},
                "vendors": {"2": document["vendors"]["2"], "21": document["vendors"]["21"]}},
        "translations": {"de": {section: frozen["translations"]["de"][section] for section in (
            "purposes", "specialPurposes", "features", "specialFeatures", "stacks", "dataCategories")}},
        "google_atps": [ATP],
    }
    assert set(frozen["translations"]["de"]) == {"purposes", "specialPurposes", "features",
                                                 "specialFeatures", "stacks", "dataCategories"}
    assert frozen["translations"]["de"]["purposes"]["1"]["name"].startswith("Speichern")
    assert "tcf" in changes["settings_changed"] and changes["asks_again"]
    scope = [entry for entry in versions.consent_scope(version.content) if entry.startswith("tcf:")]
    assert len(scope) == 1  # one entry for every vendor: the scope travels in the cookie


def test_the_scope_asks_again_when_what_the_vendors_do_changes(site, app):
    """A vendor added or gone, or a GVL update that changes what a vendor declares, asks
    again; a GVL version that changes nothing else does not."""
    from cmp_server.sites import gvl, tcf
    from tests.support.gvl import gvl_document

    app.config["CMP_TCF_CMP_ID"] = 300
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2]}})
    first, _ = versions.publish(site)
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2, 21]}})
    second, changes = versions.publish(site)
    assert changes["asks_again"] and tcf.scope(first.content) != tcf.scope(second.content)
    gvl.store_gvl(gvl_document(version=4), {})  # the same vendors, doing the same
    third, changes = versions.publish(site)
    assert tcf.scope(third.content) == tcf.scope(second.content) and not changes["asks_again"]
    changed = gvl_document(version=5)
    changed["vendors"]["21"]["purposes"] = [1, 2, 3, 4, 5]
    gvl.store_gvl(changed, {})
    fourth, changes = versions.publish(site)
    assert changes["asks_again"]


def test_publishing_without_a_cmp_id_is_refused_unless_the_caller_gives_one(site, app):
    app.config["CMP_TCF_CMP_ID"] = None
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2]}})
    with pytest.raises(ServiceError) as refused:
        versions.publish(site)
    assert "register the platform as a CMP with IAB Europe and set CMP_TCF_CMP_ID" in \
        refused.value.errors["tcf.cmp_id"][0]
    assert versions.latest_version(site) is None
    assert versions.snapshot(site)["tcf"]["cmp_id"] is None  # the draft's preview still works
    version, _ = versions.publish(site, cmp_id=4095)  # the demo's placeholder
    assert version.content["tcf"]["cmp_id"] == 4095


def test_a_site_without_tcf_publishes_as_before(site, app):
    app.config["CMP_TCF_CMP_ID"] = None
    version, _ = versions.publish(site)
    assert "tcf" not in version.content


def test_a_new_gvl_version_is_a_change_that_does_not_ask_again_but_other_vendors_do(site, tmp_path):
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2, 8]}})
    first, _ = versions.publish(site)
    store(tmp_path, version=4)
    assert versions.draft_document(site)["pending"]["settings_changed"] == ["tcf"]
    second, changes = versions.publish(site)
    assert second.number == 2 and second.content["tcf"]["gvl"]["vendorListVersion"] == 4
    assert changes["settings_changed"] == ["tcf"] and not changes["asks_again"]
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2, 8, 10]}})
    third, changes = versions.publish(site)
    assert changes["asks_again"]
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2]}})
    # fewer vendors asks again too: the TC string visitors hold still names the one gone
    assert versions.publish(site)[1]["asks_again"]


def test_a_vendor_iab_deleted_since_blocks_publishing_until_removed(site, tmp_path):
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2, 8]}})
    store(tmp_path, version=4, deleted=[8])
    with pytest.raises(ServiceError) as refused:
        versions.publish(site)
    assert "was deleted from the Global Vendor List" in refused.value.errors["tcf.vendors[1]"][0]
    assert list(versions.snapshot(site)["tcf"]["gvl"]["vendors"]) == ["2"]  # the preview leaves it out


def test_rolling_back_restores_the_tcf_setting(site):
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [2], "google_atps": [ATP]}})
    versions.publish(site)
    versions.update_draft(site, {"tcf": {}})
    versions.publish(site)
    version, _ = versions.roll_back(site, 1)
    assert site.draft.tcf == {"enabled": True, "vendors": [2], "google_atps": [ATP]}
    assert list(version.content["tcf"]["gvl"]["vendors"]) == ["2"]


def test_what_if_previews_an_unsaved_tcf_setting(site):
    content, errors = versions.what_if(site, {"tcf": {"enabled": True, "vendors": [10]}})
    assert errors == {} and list(content["tcf"]["gvl"]["vendors"]) == ["10"]
    content, errors = versions.what_if(site, {"tcf": {"enabled": True, "vendors": [999]}})
    assert "tcf.vendors[0]" in errors and "tcf" not in content


def test_the_admin_api_reads_and_changes_the_tcf_setting(site, app):
    marketer = create_user({"email": "m@shop.example", "password": "a long enough password",
                            "role": "marketer"})
    api = TokenClient(app, marketer, "/api/v1/admin")
    changed = api("PATCH", f"/sites/{site.key}/draft", {"tcf": {"enabled": True, "vendors": [8, 2]}})
    assert changed.status_code == 200, changed.json
    assert changed.json["tcf"] == {"enabled": True, "vendors": [2, 8], "google_atps": []}
    assert "tcf" in changed.json["pending"]["settings_changed"]
    refused = api("PATCH", f"/sites/{site.key}/draft", {"tcf": {"enabled": True, "vendors": [999]}})
    assert refused.status_code == 422 and "tcf.vendors[0]" in refused.json["errors"]["json"]
    published = api("POST", f"/sites/{site.key}/publish")
    assert published.status_code in (200, 201), published.json
