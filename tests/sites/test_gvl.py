"""The Global Vendor List: fetched over real HTTP, checked, every version kept once; the
operator's gvl-fetch command."""
from __future__ import annotations

import json

import pytest

from cmp_server.models import GlobalVendorList
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.sites import gvl, tcf, versions
from cmp_server.sites.registry import create_site
from tests.conftest import SHOP
from tests.support.gvl import (QuietHandler, gvl_document, serve_folder, translation_document,
                                write_test_gvl)


@pytest.fixture
def iab(tmp_path):
    """IAB's folder over HTTP: version 3 with a German translation; yields the GVL's URL."""
    folder = tmp_path / "v3"
    write_test_gvl(folder)
    with serve_folder(folder) as base:
        yield folder, f"{base}/vendor-list.json"


def stored_versions() -> list[int]:
    return db.session.execute(db.select(GlobalVendorList.version)
                              .order_by(GlobalVendorList.version)).scalars().all()


def test_the_test_gvl_is_a_gvl_v3():
    assert gvl.check_gvl(gvl_document()) == {}


def test_fetch_reads_the_gvl_and_its_translations_and_stores_it_once(app, iab):
    folder, url = iab
    seen = []
    document, translations = gvl.fetch_gvl(url, seen.append)
    assert document["vendorListVersion"] == 3 and sorted(document["vendors"]) == ["1", "10", "2", "21", "8"]
    # only German is there: every other language's file is a 404, skipped
    assert list(translations) == ["de"]
    assert translations["de"]["purposes"]["1"]["name"].startswith("Speichern")
    assert seen[0].startswith(f"fetched {url}") and f"fetched {url.rsplit('/', 1)[0]}/purposes-de.json (de)" in seen
    assert "no translation for fr" in seen
    assert QuietHandler.user_agents and all("cmp-server" in agent for agent in QuietHandler.user_agents)
    row, new = gvl.store_gvl(document, translations)
    assert new and (row.version, row.policy_version, row.last_updated) == (3, 5, "2026-12-03T16:05:24Z")
    again, new = gvl.store_gvl(document, translations)
    assert not new and again.id == row.id and stored_versions() == [3]
    assert gvl.latest_gvl().version == 3


def test_every_version_is_kept_and_the_newest_is_latest(app, tmp_path):
    for version in (3, 5, 4):
        write_test_gvl(tmp_path / str(version), version=version)
        gvl.store_gvl(*gvl.load_gvl_dir(tmp_path / str(version)))
    assert stored_versions() == [3, 4, 5] and gvl.latest_gvl().version == 5


def test_iab_language_codes_map_to_the_banners(app, tmp_path):
    write_test_gvl(tmp_path, languages=("pt-br", "pt-pt", "no", "zh", "sr-cyrl", "de"))
    _, translations = gvl.load_gvl_dir(tmp_path)
    assert sorted(translations) == ["de", "nb", "pt", "zh-Hans"]
    assert translations["pt"]["purposes"]["1"]["name"].startswith("[pt-pt]")  # European first


@pytest.mark.parametrize("spoil, field, reason", [
    (lambda d: d["vendors"]["8"].pop("purposes"), "vendors.8.purposes", "required: a list of purposes ids"),
    (lambda d: d.update(gvlSpecificationVersion=2), "gvlSpecificationVersion", "must be 3"),
    (lambda d: d["vendors"]["2"].update(purposes=[1, 99]), "vendors.2.purposes", "unknown purposes id(s): [99]"),
    (lambda d: d["vendors"]["2"]["urls"][0].update(privacy="javascript:alert(1)"),
     "vendors.2.urls[0].privacy", "required: the privacy policy's http(s) address"),
    (lambda d: d["vendors"]["2"].update(usesCookies="yes"), "vendors.2.usesCookies", "must be true or false"),
    (lambda d: d["vendors"]["10"].update(id=11), "vendors.10.id", "required: the vendor's id, as its key says"),
    (lambda d: d.pop("stacks"), "stacks", "required: an object of entries by id"),
    (lambda d: d["vendors"]["21"]["dataRetention"].update(stdRetention="a year"),
     "vendors.21.dataRetention.stdRetention", "must be a number of days"),
])
def test_a_bad_document_is_refused_naming_the_field_and_nothing_is_stored(app, iab, spoil, field, reason):
    folder, url = iab
    document = gvl_document()
    spoil(document)
    (folder / "vendor-list.json").write_text(json.dumps(document))
    with pytest.raises(ServiceError) as refused:
        gvl.fetch_gvl(url)
    assert any(message.startswith(reason) for message in refused.value.errors[field]), refused.value.errors
    with pytest.raises(ServiceError):
        gvl.store_gvl(document, {})
    assert stored_versions() == []


def test_a_deleted_vendor_keeps_its_id_and_name_only(app):
    document = gvl_document(deleted=[2])
    for field in ("urls", "dataRetention", "dataDeclaration", "deviceStorageDisclosureUrl"):
        del document["vendors"]["2"][field]
    assert gvl.check_gvl(document) == {}


def test_not_json_too_large_and_unreachable_are_refused(app, iab, monkeypatch):
    folder, url = iab
    (folder / "vendor-list.json").write_text("<html>maintenance</html>")
    with pytest.raises(ServiceError, match="not JSON"):
        gvl.fetch_gvl(url)
    write_test_gvl(folder)
    monkeypatch.setattr(gvl, "MAX_BYTES", 1000)
    with pytest.raises(ServiceError, match="larger than 1000 bytes"):
        gvl.fetch_gvl(url)
    with pytest.raises(ServiceError, match="only http"):
        gvl.fetch_gvl("file:///etc/passwd")


def test_a_missing_gvl_is_an_error_not_a_skipped_translation(app, iab):
    _, url = iab
    with pytest.raises(ServiceError, match="answered 404 Not Found"):
        gvl.fetch_gvl(url.replace("vendor-list.json", "gone.json"))


def test_a_translation_that_is_not_one_is_refused(app, iab):
    folder, url = iab
    (folder / "purposes-de.json").write_text(json.dumps({"purposes": ["not", "named"]}))
    with pytest.raises(ServiceError) as refused:
        gvl.fetch_gvl(url)
    assert "translations.de.purposes" in refused.value.errors


# --- IAB's optional vendor fields -------------------------------------------------------------

OPTIONAL_VENDOR_FIELDS = ("usesNonCookieAccess", "cookieRefresh", "deviceStorageDisclosureUrl",
                          "dataRetention", "dataDeclaration", "urls", "cookieMaxAgeSeconds",
                          "usesCookies")


def test_iab_leaves_optional_vendor_fields_out_and_the_gvl_is_still_taken(app, iab):
    folder, url = iab
    document = gvl_document()
    for field in OPTIONAL_VENDOR_FIELDS:
        del document["vendors"]["8"][field]
    document["vendors"]["2"].update(urls=[], cookieMaxAgeSeconds=None)
    document["vendors"]["10"]["overflow"] = {"httpGetLimit": 128}
    document["vendors"]["21"]["dataRetention"] = {"purposes": {}, "specialPurposes": {}}
    assert gvl.check_gvl(document) == {}
    (folder / "vendor-list.json").write_text(json.dumps(document))
    row, new = gvl.store_gvl(*gvl.fetch_gvl(url))
    assert new and row.document["vendors"]["8"] == document["vendors"]["8"]


@pytest.mark.parametrize("field, value, reason", [
    ("usesNonCookieAccess", "no", "must be true or false"),
    ("usesCookies", None, "must be true or false"),  # may be left out, not null
    ("cookieRefresh", 1, "must be true or false"),
    ("cookieMaxAgeSeconds", "a year", "must be a number of seconds or null"),
    ("cookieMaxAgeSeconds", True, "must be a number of seconds or null"),
    ("deviceStorageDisclosureUrl", "ftp://vendor.example/ds.json", "must be an http(s) address"),
    ("deviceStorageDisclosureUrl", None, "must be an http(s) address"),
    ("dataRetention", [365], "must be an object"),
    ("dataDeclaration", ["1"], "must be a list of data category ids"),
    ("urls", {"en": "https://vendor.example/privacy"}, "must be a list of {langId"),
    ("overflow", {"httpGetLimit": "32"}, "must be an object: {httpGetLimit"),
    ("deletedDate", 20260601, "must be a date and time as text"),
])
def test_an_optional_vendor_field_that_is_there_must_have_its_type(field, value, reason):
    document = gvl_document()
    document["vendors"]["8"][field] = value
    errors = gvl.check_gvl(document)
    assert any(m.startswith(reason) for m in errors.get(f"vendors.8.{field}", [])), errors


@pytest.mark.parametrize("field", ["id", "name", "purposes", "legIntPurposes", "flexiblePurposes",
                                   "specialPurposes", "features", "specialFeatures"])
def test_iabs_required_vendor_fields_are_required(field):
    document = gvl_document()
    del document["vendors"]["8"][field]
    assert f"vendors.8.{field}" in gvl.check_gvl(document)


@pytest.mark.parametrize("field, section", [
    ("legIntPurposes", "purposes"), ("flexiblePurposes", "purposes"),
    ("specialPurposes", "specialPurposes"), ("features", "features"),
    ("specialFeatures", "specialFeatures")])
def test_a_vendors_ids_must_name_entries_of_the_gvl(field, section):
    document = gvl_document()
    document["vendors"]["8"][field] = [1, 77]
    assert gvl.check_gvl(document)[f"vendors.8.{field}"] == [f"unknown {section} id(s): [77]"]


# --- sections ----------------------------------------------------------------------------------

@pytest.mark.parametrize("section", ["purposes", "specialPurposes", "features", "specialFeatures",
                                     "dataCategories", "stacks"])
def test_every_section_entry_has_its_id_name_and_description(section):
    document = gvl_document()
    document[section]["1"].pop("description")
    document[section]["1"]["name"] = ""
    document[section]["2" if section != "stacks" else "1"]["id"] = 5
    errors = gvl.check_gvl(document)
    assert errors[f"{section}.1.description"] == ["required: the entry's description"]
    assert errors[f"{section}.1.name"] == ["required: the entry's name"]
    key = "2" if section != "stacks" else "1"
    assert errors[f"{section}.{key}.id"] == ["required: the entry's id, as its key says"]


@pytest.mark.parametrize("illustrations", ["a text", [1, 2], [["nested"]], None])
def test_illustrations_when_there_are_a_list_of_texts(illustrations):
    document = gvl_document()
    document["specialPurposes"]["1"]["illustrations"] = illustrations
    del document["purposes"]["2"]["illustrations"]  # may be left out
    document["dataCategories"]["1"]["illustrations"] = ["An example."]
    assert gvl.check_gvl(document) == {
        "specialPurposes.1.illustrations": ["must be a list of texts"]}


@pytest.mark.parametrize("spoil, field, reason", [
    (lambda s: s.pop("purposes"), "stacks.1.purposes", "required: a list of purposes ids"),
    (lambda s: s.update(purposes=[1, 12]), "stacks.1.purposes", "unknown purposes id(s): [12]"),
    (lambda s: s.pop("specialFeatures"), "stacks.1.specialFeatures",
     "required: a list of specialFeatures ids"),
    (lambda s: s.update(specialFeatures=[3]), "stacks.1.specialFeatures",
     "unknown specialFeatures id(s): [3]"),
    (lambda s: s.update(specialFeatures="1,2"), "stacks.1.specialFeatures",
     "required: a list of specialFeatures ids"),
])
def test_a_stack_lists_existing_purposes_and_special_features(spoil, field, reason):
    document = gvl_document()
    spoil(document["stacks"]["1"])
    assert gvl.check_gvl(document)[field] == [reason]


# --- translations ------------------------------------------------------------------------------

def test_a_translation_as_iab_writes_it_is_taken():
    """IAB's purposes-<lang>.json repeats each entry's id, and a stack's purposes and special
    features: the GVL's own values, which are let through."""
    document = gvl_document()
    translated = translation_document(3, "de")
    translated["stacks"]["1"].update(purposes=[], specialFeatures=[1, 2])
    translated["dataCategories"]["1"]["illustrations"] = []
    del translated["features"]["1"]["description"]  # the English one stays
    assert gvl.check_translation("de", translated, document) == {}
    assert gvl.check_translation("de", {"purposes": {}}, document) == {}


@pytest.mark.parametrize("spoil, field, reason", [
    (lambda t: t["purposes"].update({"12": {"id": 12, "name": "Zweck 12"}}),
     "translations.de.purposes.12", "not in the Global Vendor List's purposes"),
    (lambda t: t["stacks"].update({"2": {"id": 2, "name": "Stapel"}}),
     "translations.de.stacks.2", "not in the Global Vendor List's stacks"),
    (lambda t: t["purposes"]["1"].update(descriptionLegal="..."),
     "translations.de.purposes.1.descriptionLegal",
     "not allowed: a translation carries only name, description and illustrations"),
    (lambda t: t["specialFeatures"]["1"].update(consentable=False),
     "translations.de.specialFeatures.1.consentable", "not allowed"),
    (lambda t: t["stacks"]["1"].update(illustrations=["Beispiel"]),
     "translations.de.stacks.1.illustrations",
     "not allowed: a translation carries only name and description"),
    (lambda t: t["stacks"]["1"].update(purposes=[1, 2, 3, 4]),  # would change what the banner shows
     "translations.de.stacks.1.purposes", "must be the Global Vendor List's own purposes"),
    (lambda t: t["stacks"]["1"].update(specialFeatures=[]),
     "translations.de.stacks.1.specialFeatures",
     "must be the Global Vendor List's own specialFeatures"),
    (lambda t: t["purposes"]["1"].update(id=2), "translations.de.purposes.1.id",
     "must be the Global Vendor List's own id"),
    (lambda t: t["purposes"]["1"].update(name=""), "translations.de.purposes.1.name",
     "must be text"),
    (lambda t: t["features"]["2"].update(description=None),
     "translations.de.features.2.description", "must be text"),
    (lambda t: t["dataCategories"]["3"].update(illustrations="x"),
     "translations.de.dataCategories.3.illustrations", "must be a list of texts"),
    (lambda t: t["specialPurposes"].update({"1": "Sicherheit"}),
     "translations.de.specialPurposes.1", "must be an object"),
])
def test_a_translation_carries_only_texts_for_entries_the_gvl_has(app, iab, spoil, field, reason):
    folder, url = iab
    translated = translation_document(3, "de")
    spoil(translated)
    assert gvl.check_translation("de", translated, gvl_document())[field][0].startswith(reason)
    (folder / "purposes-de.json").write_text(json.dumps(translated))
    with pytest.raises(ServiceError) as refused:
        gvl.fetch_gvl(url)
    assert field in refused.value.errors
    with pytest.raises(ServiceError):
        gvl.store_gvl(gvl_document(), {"de": translated})
    assert stored_versions() == []


# --- missing translations: 404 or 403 -----------------------------------------------------------

class ForbiddenWhenMissing(QuietHandler):
    """As Amazon S3 and some CDNs answer for an object that does not exist: 403."""

    def send_error(self, code, message=None, explain=None):
        super().send_error(403 if code == 404 else code, message, explain)


class FailsForFrench(QuietHandler):
    def do_GET(self):
        if self.path.endswith("/purposes-fr.json"):
            self.send_error(500)
        else:
            super().do_GET()


def test_a_translation_answered_403_is_skipped_like_a_404(app, tmp_path):
    write_test_gvl(tmp_path, languages=("de",))
    with serve_folder(tmp_path, ForbiddenWhenMissing) as base:
        seen = []
        document, translations = gvl.fetch_gvl(f"{base}/vendor-list.json", seen.append)
        assert list(translations) == ["de"] and "no translation for fr" in seen
        assert gvl.store_gvl(document, translations)[1]
        # the GVL itself must be there
        with pytest.raises(ServiceError, match="answered 403 Forbidden"):
            gvl.fetch_gvl(f"{base}/gone.json")


def test_any_other_failure_of_a_translation_stops_the_fetch_and_stores_nothing(app, runner,
                                                                              tmp_path):
    write_test_gvl(tmp_path, languages=("de", "fr"))
    with serve_folder(tmp_path, FailsForFrench) as base:
        with pytest.raises(ServiceError) as failed:
            gvl.fetch_gvl(f"{base}/vendor-list.json")
        assert "purposes-fr.json: the server answered 500" in failed.value.errors["url"][0]
        answer = runner.invoke(args=["cmp", "gvl-fetch", "--url", f"{base}/vendor-list.json"])
    assert answer.exit_code == 2 and "Could not fetch the Global Vendor List" in answer.output
    assert stored_versions() == []


# --- the command -----------------------------------------------------------------------------

def test_gvl_fetch_stores_a_new_version_and_says_so_on_its_last_line(app, runner, iab):
    _, url = iab
    first = runner.invoke(args=["cmp", "gvl-fetch", "--url", url])
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0].startswith(f"fetched {url}") and "translations: de" in lines
    assert lines[-1] == "GVL version 3 stored"
    second = runner.invoke(args=["cmp", "gvl-fetch", "--url", url])
    assert second.exit_code == 0 and second.output.splitlines()[-1] == "GVL version 3 already stored"


def test_gvl_fetch_reads_the_operators_setting_by_default(app, runner, iab):
    _, url = iab
    app.config["CMP_TCF_GVL_URL"] = url
    answer = runner.invoke(args=["cmp", "gvl-fetch"])
    assert answer.exit_code == 0 and answer.output.splitlines()[-1] == "GVL version 3 stored"


def test_gvl_fetch_fails_clearly_and_stores_nothing(app, runner, iab, tmp_path):
    folder, url = iab
    document = gvl_document()
    del document["vendors"]["8"]["purposes"]
    (folder / "vendor-list.json").write_text(json.dumps(document))
    bad = runner.invoke(args=["cmp", "gvl-fetch", "--url", url])
    assert bad.exit_code == 2
    assert "Not a Global Vendor List (version 3). vendors.8.purposes: required" in bad.output
    offline = runner.invoke(args=["cmp", "gvl-fetch", "--url", "http://127.0.0.1:9/vendor-list.json"])
    assert offline.exit_code == 2 and "Could not fetch the Global Vendor List" in offline.output
    assert stored_versions() == []
    both = runner.invoke(args=["cmp", "gvl-fetch", "--url", url, "--dir", str(tmp_path)])
    assert both.exit_code == 2 and "--url or --dir" in both.output


def test_gvl_fetch_from_a_folder_lists_the_sites_a_new_version_reaches_next_time(app, runner, catalogue, tmp_path):
    write_test_gvl(tmp_path / "3", version=3)
    write_test_gvl(tmp_path / "4", version=4)
    assert runner.invoke(args=["cmp", "gvl-fetch", "--dir", str(tmp_path / "3")]).exit_code == 0
    site = create_site(SHOP)
    versions.update_draft(site, {"tcf": {"enabled": True, "vendors": [8, 2]}})
    versions.publish(site, cmp_id=300)
    answer = runner.invoke(args=["cmp", "gvl-fetch", "--dir", str(tmp_path / "4")])
    assert answer.exit_code == 0, answer.output
    lines = answer.output.splitlines()
    assert (f"site 'Shop' ({site.key}) is published with GVL version 3; it takes version 4 "
            "when next published") in lines
    assert lines[-1] == "GVL version 4 stored"
    assert tcf.sites_on_older_gvl(4) == [(site, 3)]
