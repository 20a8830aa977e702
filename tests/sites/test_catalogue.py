"""The shipped catalogue is complete and valid, and a bad file is refused precisely."""
from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from cmp_server.banner.strings import BANNER_LANGUAGES
from cmp_server.sites.catalogue import (
    CATALOGUE_LANGUAGES,
    CORE_PURPOSES,
    load_catalogue,
    retention_months,
)
from cmp_server.platform.settings import default_vendors_dir

# The vendors of the seed statement 001_9e1f7b305ee756bf.txt, "Cookies and terms of use".
SEED_VENDORS = [
    "fullstory", "drip", "hubspot", "rankscience", "craft-cms", "segment", "drift",
    "mixpanel", "facebook", "google-analytics", "google-tag-manager", "google-ads", "piwik-pro",
]
VENDORS_DIR = default_vendors_dir()


@pytest.fixture(scope="module")
def shipped():
    return load_catalogue(VENDORS_DIR)


def test_every_shipped_file_is_valid(shipped):
    assert [str(r) for r in shipped.refused] == []
    files = {p.stem for p in VENDORS_DIR.glob("*.toml")} - {"purposes"}
    assert set(shipped.vendors) == files


def test_seed_vendors_are_all_present(shipped):
    assert [v for v in SEED_VENDORS if v not in shipped.vendors] == []


def test_core_purposes_exist_and_only_necessary_is_required(shipped):
    assert set(CORE_PURPOSES) <= set(shipped.purposes)
    assert [p for p, doc in shipped.purposes.items() if doc["required"]] == ["necessary"]


def test_vendor_ids_and_names_are_unique(shipped):
    names = [v["name"] for v in shipped.vendors.values()]
    assert len(names) == len(set(names))
    assert all(vendor_id == v["id"] for vendor_id, v in shipped.vendors.items())


def test_every_referenced_purpose_exists(shipped):
    for vendor in shipped.vendors.values():
        assert set(vendor["purposes"]) <= set(shipped.purposes), vendor["id"]


def test_every_text_is_in_every_language(shipped):
    # the purposes in every language the banner speaks, so that it can speak each of them
    for purpose in shipped.purposes.values():
        assert sorted(purpose["name"]) == sorted(BANNER_LANGUAGES), purpose["id"]
        assert sorted(purpose["description"]) == sorted(BANNER_LANGUAGES), purpose["id"]
        assert len(set(purpose["description"].values())) == len(BANNER_LANGUAGES)  # translated
    for vendor in shipped.vendors.values():
        assert sorted(vendor["description"]) == sorted(CATALOGUE_LANGUAGES), vendor["id"]


def test_every_vendor_cites_sources(shipped):
    for vendor in shipped.vendors.values():
        assert vendor["sources"], vendor["id"]


def test_piwik_pro_has_the_14_and_25_month_tiers(shipped):
    piwik = shipped.vendors["piwik-pro"]
    assert sorted(t["months"] for t in piwik["retention"]["tiers"]) == [14, 25]
    assert retention_months(piwik) == 14
    assert retention_months(piwik, "enterprise") == 25
    assert piwik["legal_basis"] == "consent"
    assert piwik["hosting"]["locations"] == ["DE"]


def test_craft_cms_is_strictly_necessary_and_the_trackers_need_consent(shipped):
    assert shipped.vendors["craft-cms"]["legal_basis"] == "strictly_necessary"
    for vendor_id in ("google-analytics", "facebook", "mixpanel", "hubspot"):
        assert shipped.vendors[vendor_id]["legal_basis"] == "consent"


def test_vendors_that_load_scripts_name_their_hosts(shipped):
    for vendor_id in ("mixpanel", "google-analytics", "facebook", "hubspot"):
        assert shipped.vendors[vendor_id]["hosts"], vendor_id


# --- refusals ---------------------------------------------------------------------------

@pytest.fixture
def catalogue_copy(tmp_path) -> Path:
    target = tmp_path / "vendors"
    shutil.copytree(VENDORS_DIR, target)
    return target


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


BROKEN_MIXPANEL = [
    # (what is replaced, with what, the field named, words of the reason)
    ('name = "Mixpanel"', "", "name", "Missing data for required field"),
    ('legal_basis = "consent"', 'legal_basis = "legitimate_interest"', "legal_basis",
     "Must be one of"),
    ('purposes = ["analytics"', 'purposes = ["tracking"', "purposes[0]",
     "unknown purpose 'tracking'"),
    ('id = "mixpanel"', 'id = "mix-panel"', "id", "must equal the file name 'mixpanel'"),
    ("\nnb = ", "\nno = ", "description", "missing language(s): nb"),
    ("policy_url = \"https://", "policy_url = \"http://", "policy_url", "Not a valid URL"),
    ('legal_basis = "consent"', 'legal_basis = "strictly_necessary"', "legal_basis",
     'purposes = ["necessary"] only'),
    ('id = "mixpanel"', 'id = "mixpanel"\nowner = "me"', "owner", "Unknown field"),
    # notes for the catalogue's authors, where visitors would read them
    ("Data Processing Addendum;", "Data Processing Addendum (not verified);", "hosting.safeguards",
     "'not verified' looks like a note for the catalogue's authors"),
    ('name = "Mixpanel"', 'name = "Mixpanel (TODO: check)"', "name", "'TODO' looks like a note"),
    ('name = "Mixpanel, Inc."', 'name = "Mixpanel, Inc.."', "company.name", "'..' looks like a note"),
    # every visitor's browser matches these: more stars, more backtracking
    ('name = "mp_*_mixpanel"', 'name = "mp_*_*_mix*panel"', "cookies[0].name", 'at most 2 "*"'),
]


@pytest.mark.parametrize("old,new,field,reason", BROKEN_MIXPANEL)
def test_a_broken_vendor_file_is_refused_with_file_field_and_reason(
    catalogue_copy, old, new, field, reason
):
    rewrite(catalogue_copy / "mixpanel.toml", old, new)
    result = load_catalogue(catalogue_copy)
    assert "mixpanel" not in result.vendors
    messages = [str(r) for r in result.refused]
    assert any(m.startswith(f"mixpanel.toml: {field}: ") and reason in m for m in messages), messages
    # every other vendor still loads
    assert len(result.vendors) == len(list(VENDORS_DIR.glob("*.toml"))) - 2


def test_a_bad_cookie_lifetime_names_its_index(catalogue_copy):
    path = catalogue_copy / "mixpanel.toml"
    document = tomllib.loads(path.read_text())
    index = len(document["cookies"]) - 1
    text = path.read_text()
    head, _, tail = text.rpartition("lifetime = ")
    rest = tail.split("\n", 1)[1]
    path.write_text(f"{head}lifetime = -3\n{rest}")
    refused = [str(r) for r in load_catalogue(catalogue_copy).refused]
    assert refused == [
        f"mixpanel.toml: cookies[{index}].lifetime: "
        'must be a whole number of days >= 1, "session" or "persistent"'
    ]


def test_invalid_toml_is_refused_with_its_position(catalogue_copy):
    (catalogue_copy / "hubspot.toml").write_text('id = "hubspot"\nname = \n')
    result = load_catalogue(catalogue_copy)
    (refusal,) = result.refused
    assert refusal.file == "hubspot.toml"
    assert refusal.field == "(syntax)"
    assert "line 2" in refusal.reason
    assert "hubspot" not in result.vendors


def test_a_tiered_retention_needs_exactly_one_default(catalogue_copy):
    rewrite(catalogue_copy / "piwik-pro.toml", "default = true", "default = false")
    refused = [str(r) for r in load_catalogue(catalogue_copy).refused]
    assert refused == ["piwik-pro.toml: retention.tiers: exactly one tier must have default = true"]


def test_a_transfer_outside_the_eea_needs_safeguards(catalogue_copy):
    path = catalogue_copy / "mixpanel.toml"
    lines = [l for l in path.read_text().splitlines() if not l.startswith("safeguards")]
    path.write_text("\n".join(lines) + "\n")
    refused = [str(r) for r in load_catalogue(catalogue_copy).refused]
    assert refused == [
        "mixpanel.toml: hosting.safeguards: required when transfers_outside_eea is true"
    ]


def test_a_broken_purposes_file_refuses_the_whole_catalogue(catalogue_copy):
    rewrite(catalogue_copy / "purposes.toml", 'id = "marketing"', 'id = "advertising"')
    result = load_catalogue(catalogue_copy)
    assert result.vendors == {}
    assert [str(r) for r in result.refused] == [
        "purposes.toml: purposes: missing core purpose(s): marketing"
    ]
