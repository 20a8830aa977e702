"""Receipts exported as Kantara Consent Receipt v1.1 documents, checked against Kantara's
published JSON schema (tests/data/kantara/README.md says where it came from)."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from consent_logs.kantara import KANTARA_VERSION, WITHDRAWAL_METHOD, render

SCHEMA_FILE = Path(__file__).parents[1] / "data" / "kantara" / "consent-receipt-v1.1.schema.json"
ISSUED = "2026-11-24T05:40:00Z"
EXPIRES = "2027-11-24T05:40:00Z"


def load_schema() -> dict:
    """The file as Kantara published it starts with ``//`` comment lines (not JSON)."""
    lines = SCHEMA_FILE.read_text(encoding="utf-8").splitlines()
    return json.loads("\n".join(line for line in lines if not line.lstrip().startswith("//")))


@pytest.fixture(scope="module")
def validator():
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft4Validator  # the draft the schema declares
    cls.check_schema(schema)
    return cls(schema)


def names(en, sv, de):
    return {"en": en, "sv": sv, "de": de}


NOTICE = {
    "site": "shop",
    "default_language": "en",
    "controller": {
        "name": "Shop AB", "address": "Storgatan 1, Stockholm", "country": "SE",
        "email": "privacy@shop.example",
    },
    "policy_url": "https://shop.example/privacy",
    "purposes": [
        {"id": "necessary", "required": True,
         "name": names("Strictly necessary", "Nödvändiga", "Unbedingt erforderlich"),
         "description": names("Needed for the site.", "Behövs.", "Erforderlich.")},
        {"id": "analytics", "required": False,
         "name": names("Analytics", "Statistik", "Statistik"),
         "description": names("Measures use.", "Mäter.", "Misst.")},
        {"id": "marketing", "required": False,
         "name": names("Marketing", "Marknadsföring", "Marketing"),
         "description": names("Ads.", "Annonser.", "Werbung.")},
    ],
    "vendors": [
        {"id": "craft-cms", "name": "Craft CMS", "purposes": ["necessary"],
         "legal_basis": "strictly_necessary",
         "company": {"name": "Pixel & Tonic, Inc.", "address": "Bend, OR", "country": "US"},
         "retention_months": 0, "hosting": {"locations": ["site"], "transfers_outside_eea": False}},
        {"id": "mixpanel", "name": "Mixpanel", "purposes": ["analytics"], "legal_basis": "consent",
         "company": {"name": "Mixpanel, Inc.", "address": "San Francisco", "country": "US"},
         "retention_months": 24,
         "hosting": {"locations": ["US"], "transfers_outside_eea": True, "safeguards": "DPF"}},
        {"id": "google-analytics", "name": "Google Analytics 4", "purposes": ["analytics"],
         "legal_basis": "consent",
         "company": {"name": "Google Ireland Limited", "address": "Dublin 4", "country": "IE"},
         "retention_months": 14,
         "hosting": {"locations": ["US"], "transfers_outside_eea": True, "safeguards": "SCC"}},
        {"id": "facebook", "name": "Meta Pixel", "purposes": ["marketing"],
         "legal_basis": "consent",
         "company": {"name": "Meta Platforms Ireland Limited", "address": "Dublin 2",
                     "country": "IE"},
         "retention_months": 25,
         "hosting": {"locations": ["US"], "transfers_outside_eea": True, "safeguards": "DPF"}},
    ],
}
CONSENT_VENDORS = ["mixpanel", "google-analytics", "facebook"]


def receipt(action, state, purposes, vendors, **extra):
    granted = {"mixpanel": 24, "google-analytics": 14, "facebook": 25}
    return {
        "receipt_id": "3f1c7e0e-8a2b-4c1d-9e3f-5a6b7c8d9e0f",
        "subject_id": "Yp3kQ9vX2mT7wR1sL8nB4c",
        "site": "shop", "config_version": 3, "config_hash": "sha256:" + "ab" * 32,
        "issued_at": ISSUED, "expires_at": EXPIRES,
        "action": action, "state": state,
        "purposes": {"necessary": True, **purposes},
        "vendors": vendors,
        "vendor_retention_months": {v: m for v, m in granted.items() if vendors.get(v)},
        "legal_basis": "GDPR Art. 6(1)(a)", "language": "sv", "region": "SE",
        "gpc": False, "previous_receipt_id": None,
        "collection_method": "first_layer", "record_format": 1,
        **extra,
    }


ACCEPT_ALL = receipt("accept_all", "given", {"analytics": True, "marketing": True},
                     {v: True for v in CONSENT_VENDORS})
REJECT_ALL = receipt("reject_all", "refused", {"analytics": False, "marketing": False},
                     {v: False for v in CONSENT_VENDORS}, language="en")
CUSTOM = receipt("custom", "given", {"analytics": True, "marketing": False},
                 {"mixpanel": True, "google-analytics": False, "facebook": False},
                 language="de", collection_method="settings_layer")
WITHDRAWN = receipt("withdraw", "withdrawn", {"analytics": False, "marketing": False},
                    {v: False for v in CONSENT_VENDORS}, collection_method="api",
                    receipt_id="9d2e4b6a-1c3f-4e5d-8a7b-0c1d2e3f4a5b",
                    previous_receipt_id=ACCEPT_ALL["receipt_id"])
RECEIPTS = {"accept_all": ACCEPT_ALL, "reject_all": REJECT_ALL, "custom": CUSTOM,
            "withdrawn": WITHDRAWN}


def services(doc):
    return {s["service"]: s["purposes"] for s in doc["services"]}


def consented(doc):
    return {s["service"] for s in doc["services"]
            if any(p["consentType"] == "EXPLICIT" for p in s["purposes"])}


def iso_vendors(doc):
    return {v["id"]: v for v in doc["iso27560"]["vendors"]}


@pytest.mark.parametrize("name", RECEIPTS)
def test_every_receipt_validates_against_the_kantara_schema(name, validator):
    doc = render(RECEIPTS[name], NOTICE)
    assert list(validator.iter_errors(doc)) == []
    assert json.loads(json.dumps(doc)) == doc  # plain JSON, nothing lost
    assert doc["version"] == KANTARA_VERSION == "KI-CR-v1.1.0"
    assert doc["consentReceiptID"] == RECEIPTS[name]["receipt_id"]
    assert doc["piiPrincipalId"] == RECEIPTS[name]["subject_id"]
    assert doc["consentTimestamp"] == int(
        datetime(2026, 11, 24, 5, 40, tzinfo=timezone.utc).timestamp()
    )
    assert doc["jurisdiction"] == "SE"
    assert doc["policyUrl"] == "https://shop.example/privacy"
    assert doc["sensitive"] is False and doc["spiCat"] == []
    assert doc["piiControllers"] == [{
        "piiController": "Shop AB", "onBehalf": False, "contact": "privacy@shop.example",
        "address": {"streetAddress": "Storgatan 1, Stockholm", "addressCountry": "SE"},
        "email": "privacy@shop.example", "phone": "",
    }]


def test_accept_all_lists_every_vendor_with_localized_purposes_and_retention(validator):
    doc = render(ACCEPT_ALL, NOTICE)
    assert consented(doc) == {"Mixpanel", "Google Analytics 4", "Meta Pixel"}
    mixpanel = services(doc)["Mixpanel"]
    assert mixpanel == [{
        "purpose": "Statistik",  # receipt language sv
        "consentType": "EXPLICIT",
        "purposeCategory": ["16 - Improve Performance"],
        "piiCategory": ["Online identifiers (cookies and similar browser storage)"],
        "primaryPurpose": False,
        "termination": "Consent ends when withdrawn or at expiry on 2027-11-24T05:40:00Z; "
                       "data kept by the vendor for up to 24 months",
        "thirdPartyDisclosure": True,
        "thirdPartyName": "Mixpanel, Inc.",
    }]
    assert services(doc)["Meta Pixel"][0]["purpose"] == "Marknadsföring"
    assert doc["collectionMethod"] == "Cookie banner, first layer (accept all / reject all buttons)"
    iso = doc["iso27560"]
    assert iso["noticeHash"] == ACCEPT_ALL["config_hash"] and iso["noticeVersion"] == 3
    assert iso["state"] == "given" and iso["expiresAt"] == EXPIRES
    assert iso["withdrawalMethod"] == WITHDRAWAL_METHOD
    assert {v: x["retentionMonths"] for v, x in iso_vendors(doc).items()} == {
        "craft-cms": 0, "mixpanel": 24, "google-analytics": 14, "facebook": 25,
    }


def test_strictly_necessary_vendor_is_not_presented_as_consent():
    craft = services(render(ACCEPT_ALL, NOTICE))["Craft CMS"]
    assert craft == [{
        "purpose": "Nödvändiga",
        "consentType": "N/A",
        "purposeCategory": ["1 - Core Function"],
        "piiCategory": ["Online identifiers (cookies and similar browser storage)"],
        "primaryPurpose": True,
        "termination": "No consent required (strictly necessary); "
                       "data is not kept after the session",
        "thirdPartyDisclosure": False,  # self-hosted: nothing leaves the site
    }]


def test_reject_all_presents_no_vendor_as_consented():
    doc = render(REJECT_ALL, NOTICE)
    assert list(services(doc)) == ["Craft CMS"]
    assert consented(doc) == set()
    assert services(doc)["Craft CMS"][0]["purpose"] == "Strictly necessary"  # en
    vendors = iso_vendors(doc)
    assert doc["iso27560"]["state"] == "refused"
    for vendor_id in CONSENT_VENDORS:
        assert vendors[vendor_id]["consent"] == "refused"
        assert vendors[vendor_id]["retentionMonths"] is None


def test_custom_keeps_only_the_granted_vendor_and_purpose():
    doc = render(CUSTOM, NOTICE)
    assert consented(doc) == {"Mixpanel"}
    assert services(doc)["Mixpanel"][0]["purpose"] == "Statistik"  # German name
    assert services(doc)["Craft CMS"][0]["purpose"] == "Unbedingt erforderlich"
    assert doc["collectionMethod"].startswith("Cookie banner, privacy settings")
    vendors = iso_vendors(doc)
    assert {v: x["consent"] for v, x in vendors.items()} == {
        "craft-cms": "not required", "mixpanel": "given",
        "google-analytics": "refused", "facebook": "refused",
    }
    assert vendors["mixpanel"]["retentionMonths"] == 24
    assert doc["iso27560"]["purposes"] == {"necessary": True, "analytics": True,
                                           "marketing": False}


def test_withdrawal_links_to_the_receipt_it_replaces():
    doc = render(WITHDRAWN, NOTICE)
    assert doc["consentReceiptID"] == WITHDRAWN["receipt_id"]
    assert consented(doc) == set()
    iso = doc["iso27560"]
    assert iso["state"] == "withdrawn" and iso["action"] == "withdraw"
    assert iso["previousReceiptId"] == ACCEPT_ALL["receipt_id"]
    assert {iso_vendors(doc)[v]["consent"] for v in CONSENT_VENDORS} == {"withdrawn"}
    assert doc["collectionMethod"] == "Consent API request (POST /api/v1/consents)"


def test_a_withdrawn_or_refused_state_overrides_stale_grants(validator):
    for state in ("withdrawn", "refused"):
        stale = {**ACCEPT_ALL, "state": state}
        doc = render(stale, NOTICE)
        assert list(validator.iter_errors(doc)) == []
        assert consented(doc) == set()
        assert all(iso_vendors(doc)[v]["retentionMonths"] is None for v in CONSENT_VENDORS)


def test_a_vendor_granted_on_one_of_its_purposes_is_not_presented_as_consented(validator):
    """Receipts recorded before the server enforced "every purpose" may grant a vendor on
    one of them: it never had the consent it needs."""
    hubspot = {"id": "hubspot", "name": "HubSpot", "purposes": ["analytics", "marketing"],
               "legal_basis": "consent",
               "company": {"name": "HubSpot, Inc.", "address": "Cambridge, MA", "country": "US"},
               "retention_months": 24,
               "hosting": {"locations": ["US"], "transfers_outside_eea": True}}
    notice = {**NOTICE, "vendors": NOTICE["vendors"] + [hubspot]}
    partial = receipt("custom", "given", {"analytics": True, "marketing": False},
                      {"mixpanel": True, "google-analytics": False, "facebook": False,
                       "hubspot": True})
    doc = render(partial, notice)
    assert list(validator.iter_errors(doc)) == []
    assert consented(doc) == {"Mixpanel"}
    assert iso_vendors(doc)["hubspot"]["consent"] == "refused"
    both = {**partial, "purposes": {"necessary": True, "analytics": True, "marketing": True}}
    assert consented(render(both, notice)) == {"Mixpanel", "HubSpot"}


def test_gpc_region_and_phone_are_recorded(validator):
    gpc = receipt("gpc", "refused", {"analytics": False, "marketing": False},
                  {v: False for v in CONSENT_VENDORS}, gpc=True, region="US-CA",
                  collection_method="gpc_signal", language="en")
    notice = copy.deepcopy(NOTICE)
    notice["controller"]["phone"] = "+46 8 123 45 67"
    doc = render(gpc, notice)
    assert list(validator.iter_errors(doc)) == []
    assert doc["iso27560"]["gpc"] is True and doc["iso27560"]["region"] == "US-CA"
    assert "Global Privacy Control" in doc["collectionMethod"]
    assert doc["piiControllers"][0]["phone"] == "+46 8 123 45 67"


def test_purpose_names_fall_back_to_the_notice_default_then_english():
    notice = copy.deepcopy(NOTICE)
    notice["default_language"] = "sv"
    doc = render({**ACCEPT_ALL, "language": "fi"}, notice)
    assert doc["language"] == "fi"
    assert services(doc)["Mixpanel"][0]["purpose"] == "Statistik"
    notice["default_language"] = "nb"
    assert services(render({**ACCEPT_ALL, "language": "fi"}, notice))["Mixpanel"][0][
        "purpose"] == "Analytics"


def test_timestamps_must_carry_an_offset():
    with pytest.raises(ValueError, match="UTC offset"):
        render({**ACCEPT_ALL, "issued_at": "2026-11-24T05:40:00"}, NOTICE)


def drop(path):
    def mutate(doc):
        *parents, last = path
        target = doc
        for key in parents:
            target = target[key]
        del target[last]
    return mutate


def setter(path, value):
    def mutate(doc):
        *parents, last = path
        target = doc
        for key in parents:
            target = target[key]
        target[last] = value
    return mutate


@pytest.mark.parametrize("mutate", [
    drop(["consentReceiptID"]),
    drop(["piiPrincipalId"]),
    drop(["spiCat"]),
    drop(["piiControllers", 0, "phone"]),
    drop(["services", 1, "purposes", 0, "thirdPartyName"]),
    drop(["services", 1, "purposes", 0, "consentType"]),
    setter(["consentTimestamp"], ISSUED),
    setter(["sensitive"], "no"),
], ids=["no-id", "no-principal", "no-spiCat", "no-phone", "disclosed-without-name",
        "no-consentType", "iso-timestamp", "sensitive-not-bool"])
def test_the_schema_rejects_broken_documents(mutate, validator):
    doc = render(ACCEPT_ALL, NOTICE)
    assert services(doc) and doc["services"][1]["service"] == "Mixpanel"
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)
