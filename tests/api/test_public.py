"""The public API over real HTTP: banner configuration, recording, verification, CORS."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from cmp_server.sites import versions
from cmp_server.platform.extensions import db
from cmp_server.models import Purpose, ledger
from tests.support.http import call

ORIGIN = {"Origin": "https://shop.example"}


def consent(site, version, **fields):
    return {"site": site.key, "config_version": version.number, "language": "sv", **fields}


def records() -> int:
    return ledger.count(db.session.connection())


# --- banner configuration ---------------------------------------------------------------

def test_banner_config_in_the_requested_language(live_server, shop):
    site, version = shop
    answer = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner?lang=sv", headers=ORIGIN)
    assert answer.status == 200
    body = answer.json
    assert (body["version"], body["hash"], body["language"]) == (1, version.content_hash, "sv")
    assert [p["name"] for p in body["purposes"]] == ["Nödvändiga", "Statistik", "Marknadsföring"]
    assert body["mode"] == "opt-in"  # loopback has no region: fail safe
    assert (body["consent_lifetime_months"], body["refusal_lifetime_months"]) == (12, 6)
    piwik = next(v for v in body["vendors"] if v["id"] == "piwik-pro")
    assert piwik["retention_months"] == 25 and piwik["company"] == "Piwik PRO SA"
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"


@pytest.mark.parametrize("query,accept,expected", [
    ("", "nb-NO,nb;q=0.9,en;q=0.5", "nb"),
    ("", "no", "nb"),
    ("", "fr-FR, de;q=0.8", "fr"),  # a language the banner speaks
    ("", "sw-KE, tlh;q=0.5", "en"),  # none of them: the site's default
    ("?lang=nl", "de", "nl"),
    ("?lang=de-DE-u-co-phonebk-ca-gregory-nu-latn", "en", "de"),  # a page's long <html lang>
])
def test_banner_language_negotiation(live_server, shop, query, accept, expected):
    site, _ = shop
    answer = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner{query}",
                  headers={"Accept-Language": accept})
    assert answer.json["language"] == expected


def banner_in(live_server, site, accept: str, query: str = "") -> dict:
    return call("GET", f"{live_server}/api/v1/sites/{site.key}/banner{query}",
                headers={"Accept-Language": accept}).json


# an operator's own purpose, in some of the catalogue's languages only (no German)
EXTRA_PURPOSE = "club"
CLUB = {"id": EXTRA_PURPOSE, "required": False, "position": 9,
        "name": {"en": "Customer club", "sv": "Kundklubb", "nl": "Klantenclub", "nb": "Kundeklubb"},
        "description": {lang: "Offers for members." for lang in ("en", "sv", "nl", "nb")}}


def test_the_banner_speaks_one_language_in_which_the_site_has_every_text(live_server, shop):
    site, _ = shop
    db.session.add(Purpose(id=EXTRA_PURPOSE, required=False, position=9, document=CLUB,
                           content_hash="test"))
    db.session.commit()
    versions.update_draft(site, {"texts": {"en": {"title": "Cookies at the shop"}},
                                 "extra_purposes": [EXTRA_PURPOSE]})
    versions.publish(site)
    german = banner_in(live_server, site, "de-DE,de;q=0.9,en;q=0.5")
    # the site's own purpose is in English and Swedish only: the whole banner is English
    assert german["language"] == "en" and german["strings"]["title"] == "Cookies at the shop"
    assert german["strings"]["accept"] == "Accept all"
    assert german["purposes"][0]["name"] == "Strictly necessary"
    assert "de" not in german["languages"] and {"en", "sv", "nl", "nb"} <= set(german["languages"])
    assert banner_in(live_server, site, "de", "?lang=de")["language"] == "en"  # asked for, still incomplete
    swedish = banner_in(live_server, site, "sv")
    # a rewrite is never shown in another language: Swedish keeps its own wording
    assert (swedish["language"], swedish["strings"]["title"]) == ("sv", "Dina integritetsval")
    assert swedish["purposes"][-1]["name"] == "Kundklubb"

    versions.update_draft(site, {"extra_purposes": []})
    versions.publish(site)
    german = banner_in(live_server, site, "de-DE,de;q=0.9")
    assert german["language"] == "de" and german["texts"] == {}
    assert german["strings"]["title"] != "Cookies at the shop"
    assert german["strings"]["accept"] == "Alle akzeptieren"
    assert german["purposes"][0]["name"] == "Unbedingt erforderlich"


@pytest.mark.parametrize("accept,language,direction", [
    ("zh-TW", "zh-Hant", "ltr"), ("zh-HK", "zh-Hant", "ltr"), ("zh-CN", "zh-Hans", "ltr"),
    ("zh", "zh-Hans", "ltr"), ("ar-EG", "ar", "rtl"), ("he", "he", "rtl"), ("fa-IR", "fa", "rtl"),
    ("ja", "ja", "ltr"), ("uk-UA", "uk", "ltr"),
])
def test_the_new_languages_and_their_direction(live_server, shop, accept, language, direction):
    site, _ = shop
    body = banner_in(live_server, site, accept)
    assert (body["language"], body["dir"]) == (language, direction)
    english = banner_in(live_server, site, "en")
    assert body["strings"]["accept"] != english["strings"]["accept"]
    assert body["purposes"][2]["name"] != english["purposes"][2]["name"]


def test_catalogue_facts_a_language_lacks_are_left_out_not_mixed_in(live_server, shop):
    site, _ = shop

    def analytics(accept):
        return next(v for v in banner_in(live_server, site, accept)["vendors"]
                    if v["id"] == "google-analytics")
    japanese, german, english = analytics("ja"), analytics("de"), analytics("en")
    assert japanese["description"] is None and german["description"].startswith("Google Analytics")
    assert german["description"] != english["description"]
    # cookie descriptions are English in the catalogue: in English only
    assert all("description" not in c for c in german["cookies"] + japanese["cookies"])
    assert all(c["description"] for c in english["cookies"])
    # the glob a cookie name is matched with, as the tag deletes it
    ga = next(c for c in english["cookies"] if c["name"] == "_ga_*")
    assert ga["pattern"] == "^_ga_.*$"


def test_the_configuration_names_the_modules_the_site_needs(live_server, shop):
    site, _ = shop
    assert banner_in(live_server, site, "en")["load"] == ["google"]  # Google Analytics
    versions.set_draft_vendors(site, [("mixpanel", None), ("microsoft-clarity", None)])
    versions.update_draft(site, {"theme": {"layout": "bar-top"}})
    versions.publish(site)
    body = banner_in(live_server, site, "en")
    assert body["load"] == ["microsoft", "theme"]
    assert body["consent_signals"] == {"microsoft_clarity": ["microsoft-clarity"]}
    assert set(body["modules"]) >= {"settings", "theme", "google", "microsoft", "embeds", "button"}


def test_banner_is_cacheable_with_a_strong_etag(live_server, shop):
    site, _ = shop
    url = f"{live_server}/api/v1/sites/{site.key}/banner?lang=de"
    first = call("GET", url)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/')
    assert "max-age=" in first.headers["Cache-Control"]
    assert "Accept-Language" in first.headers["Vary"]
    again = call("GET", url, headers={"If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    other_language = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner?lang=nl")
    assert other_language.headers["ETag"] != etag


def test_publishing_changes_the_banner_and_its_etag(live_server, shop):
    site, _ = shop
    url = f"{live_server}/api/v1/sites/{site.key}/banner?lang=en"
    before = call("GET", url)
    versions.set_draft_vendors(site, [("mixpanel", None)])
    versions.publish(site)
    after = call("GET", url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status == 200 and after.json["version"] == 2
    assert [v["id"] for v in after.json["vendors"]] == ["mixpanel"]


def test_banner_for_unknown_site_or_bad_language(live_server, shop):
    site, _ = shop
    missing = call("GET", f"{live_server}/api/v1/sites/nope/banner")
    assert missing.status == 404 and missing.json["code"] == 404
    bad = call("GET", f"{live_server}/api/v1/sites/{site.key}/banner?lang=<script>")
    assert bad.status == 422 and "lang" in bad.json["errors"]["query"]


# --- recording ------------------------------------------------------------------------------

def test_accept_all_records_a_complete_receipt(live_server, shop):
    site, version = shop
    answer = call("POST", f"{live_server}/api/v1/consents",
                  consent(site, version, action="accept_all"), headers=ORIGIN)
    assert answer.status == 201, answer.json
    receipt = answer.json["receipt"]
    assert receipt["state"] == "given" and receipt["action"] == "accept_all"
    assert (receipt["site"], receipt["config_version"], receipt["config_hash"]) == (
        site.key, 1, version.content_hash)
    assert receipt["purposes"] == {"necessary": True, "analytics": True, "marketing": True}
    assert all(receipt["vendors"].values())
    assert receipt["vendor_retention_months"]["piwik-pro"] == 25
    assert "craft-cms" not in receipt["vendor_retention_months"]  # not a consent vendor
    assert receipt["legal_basis"] == "GDPR Art. 6(1)(a)"
    assert receipt["collection_method"] == "first_layer"
    assert len(receipt["subject_id"]) >= 16 and receipt["previous_receipt_id"] is None
    assert receipt["issued_at"][:4] != receipt["expires_at"][:4]  # twelve months later
    # durable before the answer: the ledger holds exactly this record
    assert ledger.get(db.session.connection(), receipt["receipt_id"]) == receipt
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"


def test_custom_choice_and_reject_all(live_server, shop):
    site, version = shop
    custom = call("POST", f"{live_server}/api/v1/consents", consent(
        site, version, action="custom", purposes={"analytics": True},
        vendors={"mixpanel": True, "google-analytics": False}), headers=ORIGIN)
    receipt = custom.json["receipt"]
    assert custom.status == 201 and receipt["state"] == "given"
    assert receipt["purposes"] == {"necessary": True, "analytics": True, "marketing": False}
    assert receipt["vendors"]["mixpanel"] and not receipt["vendors"]["google-analytics"]
    assert receipt["vendors"]["craft-cms"]  # strictly necessary
    assert receipt["vendor_retention_months"] == {"mixpanel": 24}
    refused = call("POST", f"{live_server}/api/v1/consents",
                   consent(site, version, action="reject_all"), headers=ORIGIN)
    assert refused.json["receipt"]["state"] == "refused"
    assert refused.json["receipt"]["vendor_retention_months"] == {}
    issued, expires = refused.json["receipt"]["issued_at"], refused.json["receipt"]["expires_at"]
    months = (int(expires[:4]) - int(issued[:4])) * 12 + int(expires[5:7]) - int(issued[5:7])
    assert months == 6


BAD_CONSENTS = [
    # (change to a valid accept_all body, status, error location and field, words)
    ({"colour": "red"}, 422, "colour", "Unknown field"),
    ({"action": "custom", "purposes": {"tracking": True}}, 422, "purposes.tracking", "unknown purpose"),
    ({"action": "custom", "vendors": {"hotjar": True}}, 422, "vendors.hotjar", "unknown vendor"),
    ({"action": "custom", "purposes": {"necessary": False}}, 422, "purposes.necessary",
     "cannot be refused"),
    ({"action": "custom", "vendors": {"mixpanel": True}}, 422, "vendors.mixpanel",
     "analytics is refused"),
    ({"action": "custom", "purposes": {"analytics": True}, "vendors": {"piwik-pro": True}}, 422,
     "vendors.piwik-pro", "needs every one of its purposes (analytics, marketing)"),
    ({"subject_id": "a" * 22}, 422, "subject_id", "only with a token of that subject"),
    ({"config_version": 9}, 422, "config_version", "never published"),
    ({"config_version": "1"}, 422, "config_version", "Not a valid integer"),
    ({"gpc": "yes"}, 422, "gpc", "Not a valid boolean"),
    ({"action": "maybe"}, 422, "action", "Must be one of"),
    ({"site": "unknown-site"}, 422, "site", "unknown site"),
    ({"action": "withdraw"}, 422, "token", "required to withdraw"),
    ({"token": "garbage"}, 422, "token", "malformed"),
    ({"token": "bad token!"}, 422, "token", "malformed"),
    ({"config_version": 2**70}, 422, "config_version", "less than or equal to"),
    ({"site": "bad\udb66key"}, 422, "site", "unpaired surrogates"),
    ({"purposes": {"analytics": True}}, 422, "purposes", "not allowed with action 'accept_all'"),
    ({"subject_id": "short"}, 422, "subject_id", "16 to 64 URL-safe characters"),
]


@pytest.mark.parametrize("change,status,field,words", BAD_CONSENTS)
def test_bad_consents_are_refused_naming_the_field_and_store_nothing(
    live_server, shop, change, status, field, words
):
    site, version = shop
    body = {**consent(site, version, action="accept_all"), **change}
    answer = call("POST", f"{live_server}/api/v1/consents", body, headers=ORIGIN)
    assert answer.status == status, answer.json
    assert words in json.dumps(answer.json["errors"]["json"][field])
    assert answer.json["code"] == status and answer.json["message"]
    assert records() == 0


def test_missing_fields_are_all_named(live_server, shop):
    answer = call("POST", f"{live_server}/api/v1/consents", {}, headers=ORIGIN)
    assert answer.status == 422
    assert set(answer.json["errors"]["json"]) == {"site", "config_version", "action", "language"}


@pytest.mark.parametrize("raw,content_type,status", [
    (b"{" + b" " * 9000 + b"}", "application/json", 413),
    (b"site=x", "application/x-www-form-urlencoded", 415),
    (b"{not json", "application/json", 400),
    # found by the stress suite: both were a 500, on the consent and verify endpoints
    (b"[" * 3000 + b"]" * 3000, "application/json", 400),  # deeper than json recurses
    (b'{"token": ' + b"9" * 5000 + b"}", "application/json", 400),  # too many digits
])
@pytest.mark.parametrize("endpoint", ["consents", "receipts/verify"])
def test_oversized_wrong_type_and_malformed_bodies(live_server, shop, raw, content_type, status,
                                                   endpoint):
    answer = call("POST", f"{live_server}/api/v1/{endpoint}", raw=raw, content_type=content_type)
    assert answer.status == status
    assert answer.json["code"] == status and answer.json["message"]
    assert records() == 0


def test_an_unregistered_origin_is_refused(live_server, shop):
    site, version = shop
    answer = call("POST", f"{live_server}/api/v1/consents",
                  consent(site, version, action="accept_all"),
                  headers={"Origin": "https://evil.example"})
    assert answer.status == 403
    assert "not registered" in answer.json["errors"]["json"]["origin"][0]
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert records() == 0


def test_a_banner_asked_from_an_unregistered_origin_says_which_and_where(live_server, shop):
    site, _ = shop
    url = f"{live_server}/api/v1/sites/{site.key}/banner"
    refused = call("GET", url, headers={"Origin": "https://evil.example"})
    assert refused.status == 403
    # the page may read the reason, and the reason is all it gets
    assert refused.headers["Access-Control-Allow-Origin"] == "https://evil.example"
    message = refused.json["message"]
    assert "https://evil.example" in message and site.key in message and "Settings" in message
    assert "purposes" not in refused.json
    assert call("GET", url, headers=ORIGIN).status == 200  # a registered origin
    assert call("GET", url).status == 200  # no browser, no origin: servers, the scanner


def test_cors_preflight_allows_exactly_registered_origins(live_server, shop):
    url = f"{live_server}/api/v1/consents"
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    allowed = call("OPTIONS", url, headers={**ORIGIN, **preflight})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in allowed.headers["Access-Control-Allow-Headers"]
    other = call("OPTIONS", url, headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in other.headers


# --- continuity, withdrawal, verification ---------------------------------------------------

def post(live_server, body):
    answer = call("POST", f"{live_server}/api/v1/consents", body, headers=ORIGIN)
    assert answer.status == 201, answer.json
    return answer.json


def verify(live_server, token):
    answer = call("POST", f"{live_server}/api/v1/receipts/verify", {"token": token})
    assert answer.status == 200, answer.json
    return answer.json


def test_a_new_choice_supersedes_and_withdrawal_ends_consent(live_server, shop):
    site, version = shop
    first = post(live_server, consent(site, version, action="accept_all"))
    assert verify(live_server, first["token"])["status"] == "active"

    second = post(live_server, consent(site, version, action="custom",
                                       purposes={"analytics": True}, token=first["token"]))
    assert second["receipt"]["subject_id"] == first["receipt"]["subject_id"]
    assert second["receipt"]["previous_receipt_id"] == first["receipt"]["receipt_id"]
    assert verify(live_server, first["token"])["status"] == "superseded"

    withdrawn = post(live_server, consent(site, version, action="withdraw", token=second["token"]))
    receipt = withdrawn["receipt"]
    assert receipt["state"] == "withdrawn" and receipt["action"] == "withdraw"
    assert receipt["previous_receipt_id"] == second["receipt"]["receipt_id"]
    assert not any(v for k, v in receipt["purposes"].items() if k != "necessary")
    assert verify(live_server, second["token"])["status"] == "withdrawn"
    assert verify(live_server, withdrawn["token"])["status"] == "withdrawn"
    assert records() == 3  # a withdrawal is a new record, never an update


def test_a_token_from_another_site_is_refused(live_server, shop, catalogue):
    from cmp_server.sites.registry import create_site
    from tests.conftest import SHOP

    site, version = shop
    other = create_site({**SHOP, "name": "Other"})
    versions.set_draft_vendors(other, [("mixpanel", None)])
    other_version, _ = versions.publish(other)
    foreign = post(live_server, consent(other, other_version, action="accept_all"))
    answer = call("POST", f"{live_server}/api/v1/consents",
                  consent(site, version, action="withdraw", token=foreign["token"]), headers=ORIGIN)
    assert answer.status == 422
    assert answer.json["errors"]["json"]["token"] == ["belongs to another site"]


def tamper(token: str) -> str:
    payload, signature = token.rsplit(".", 1)
    flipped = "A" if signature[0] != "A" else "B"
    return f"{payload}.{flipped}{signature[1:]}"


def test_tampered_truncated_and_foreign_tokens_are_invalid(live_server, shop, app):
    site, version = shop
    token = post(live_server, consent(site, version, action="accept_all"))["token"]
    payload, signature = token.rsplit(".", 1)
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    with app.app_context():
        app.config["CMP_SECRET_KEYS"] = ["somebody-elses-key"]
        from cmp_server.consent.receipts import serializer

        foreign = serializer().dumps({"r": "x", "s": "y", "k": site.key})
        app.config["CMP_SECRET_KEYS"] = ["test-signing-key-0123456789abcdef"]
    for bad in (tamper(token), token[: len(token) // 2], f"{forged_payload}.{signature}", foreign):
        answer = verify(live_server, bad)
        assert answer["valid"] is False and answer["reason"], bad
    assert "signature" in verify(live_server, tamper(token))["reason"]
    assert verify(live_server, "no-dot-at-all")["reason"].startswith("malformed")


def test_a_signature_respelled_in_its_unused_bits_is_invalid(live_server, shop):
    """The signature's last base64 character carries 2 unused bits: a token with them
    changed decodes to the same signature, yet is not a token this server issued."""
    site, version = shop
    token = post(live_server, consent(site, version, action="accept_all"))["token"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    position = alphabet.index(token[-1])
    respelled = token[:-1] + alphabet[position ^ 1]  # the lowest, unused, bit
    answer = verify(live_server, respelled)
    assert answer["valid"] is False and "signature" in answer["reason"]
    assert verify(live_server, token)["valid"] is True


def test_rotated_keys_still_verify_old_tokens(live_server, shop, app):
    site, version = shop
    old_token = post(live_server, consent(site, version, action="accept_all"))["token"]
    app.config["CMP_SECRET_KEYS"] = ["brand-new-signing-key", "test-signing-key-0123456789abcdef"]
    assert verify(live_server, old_token)["valid"] is True
    new_token = post(live_server, consent(site, version, action="reject_all"))["token"]
    assert verify(live_server, new_token)["valid"] is True
    app.config["CMP_SECRET_KEYS"] = ["brand-new-signing-key"]  # the old key retired
    assert verify(live_server, old_token)["valid"] is False
    assert verify(live_server, new_token)["valid"] is True


def test_an_expired_receipt_reports_expired(live_server, shop):
    from cmp_server.consent.receipts import token_for

    site, version = shop
    receipt = post(live_server, consent(site, version, action="reject_all"))["receipt"]
    old = {**receipt, "receipt_id": "00000000-0000-4000-8000-000000000001",
           "subject_id": "another-visitor-0001",
           "issued_at": "2020-01-01T00:00:00Z", "expires_at": "2020-07-01T00:00:00Z"}
    ledger.append(db.session.connection(), old, 0)
    db.session.commit()
    answer = verify(live_server, token_for(old))
    assert (answer["valid"], answer["status"]) == (True, "expired")


# --- regions and the raw IP -------------------------------------------------------------------

@pytest.fixture
def behind_one_proxy(app):
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1


def test_region_rules_decide_the_mode(live_server, shop, behind_one_proxy):
    site, _ = shop
    versions.update_draft(site, {"region_rules": {"US-CA": "opt-out", "US": "none", "default": "opt-in"}})
    versions.publish(site)
    url = f"{live_server}/api/v1/sites/{site.key}/banner"
    for address, region, mode in [("128.32.0.1", "US-CA", "opt-out"), ("8.8.8.8", "US", "none"),
                                  ("130.237.0.1", "SE-AB", "opt-in")]:
        answer = call("GET", url, headers={"X-Forwarded-For": address})
        assert (answer.json["region"], answer.json["mode"]) == (region, mode), address


def test_forwarded_headers_are_ignored_by_default(live_server, shop):
    site, version = shop
    answer = call("POST", f"{live_server}/api/v1/consents",
                  consent(site, version, action="accept_all"),
                  headers={"X-Forwarded-For": "130.237.0.1", **ORIGIN})
    assert answer.json["receipt"]["region"] is None


def test_the_raw_ip_is_never_stored_or_logged(live_server, shop, behind_one_proxy, caplog):
    site, version = shop
    answer = call("POST", f"{live_server}/api/v1/consents",
                  consent(site, version, action="accept_all"),
                  headers={"X-Forwarded-For": "130.237.0.1", **ORIGIN})
    assert answer.json["receipt"]["region"] == "SE-AB"
    stored = db.session.execute(text("SELECT data FROM consent_records")).scalars().all()
    assert stored and not any("130.237" in row for row in stored)
    assert "130.237" not in caplog.text
    url = str(db.engine.url)
    if url.startswith("sqlite"):  # not in any page of the database file or its WAL
        from pathlib import Path

        path = Path(url.split("///", 1)[1])
        for part in (path, path.with_name(path.name + "-wal")):
            if part.exists():
                assert b"130.237" not in part.read_bytes()


def test_verification_renders_a_valid_kantara_receipt(live_server, shop):
    from tests.consent.test_kantara import load_schema
    import jsonschema

    site, version = shop
    recorded = post(live_server, consent(site, version, action="custom",
                                         purposes={"analytics": True}, vendors={"mixpanel": True}))
    document = verify(live_server, recorded["token"])["kantara"]
    jsonschema.Draft4Validator(load_schema()).validate(document)
    assert document["version"] == "KI-CR-v1.1.0"
    assert document["consentReceiptID"] == recorded["receipt"]["receipt_id"]
    assert document["piiControllers"][0]["piiController"] == "Shop AB"
    assert document["policyUrl"] == "https://shop.example/privacy"
    consented = {s["service"] for s in document["services"]}
    assert "Mixpanel" in consented and "Facebook / Meta Pixel" not in consented
    assert document["iso27560"]["noticeHash"] == version.content_hash


def test_the_banner_can_read_its_own_token(live_server, shop):
    import base64

    site, version = shop
    recorded = post(live_server, consent(site, version, action="custom",
                                         purposes={"analytics": True}, vendors={"mixpanel": True}))
    payload = recorded["token"].split(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["r"] == recorded["receipt"]["receipt_id"]
    assert claims["p"] == ["analytics", "necessary"]
    assert claims["g"] == ["craft-cms", "mixpanel"]
    assert "vendor:facebook" in claims["q"] and "purpose:marketing" in claims["q"]
    assert claims["e"] > 1_700_000_000
