"""A TCF site's choices over real HTTP, on both engines: the TC string (encoded by IAB's own
library) is checked against the version the visitor was shown, refused with the field and
the reason when it disagrees, and kept in the receipt, its token and its Kantara rendering
with what it decodes to."""
from __future__ import annotations

import pytest

from cmp_server.models import ledger
from cmp_server.platform.extensions import db
from tests.consent.test_receipts import post
from tests.support.gvl import gvl_document
from tests.support.iab import encode_tc

from tests.consent.conftest import TCF_CMP_ID as CMP_ID, TCF_VENDORS as VENDORS


def tc(gvl, **fields) -> str:
    """As the banner encodes it for this shop (a Swedish controller) in Swedish."""
    return encode_tc(gvl, **{"cmp_id": CMP_ID, "cmp_version": 1, "language": "sv",
                             "publisher_cc": "SE", **fields})


def test_a_choice_keeps_its_tc_string_and_what_it_means(live_server, tcf_shop):
    site, version, gvl = tcf_shop
    string = tc(gvl, purposes_consent=[1, 2], vendors_consent=[1], vendors_li=[2, 8],
                purposes_li=[7, 10], special_features=[1])
    answer = post(live_server, site, config_version=version.number, action="custom",
                  purposes={"marketing": False}, tcf={"tc_string": string, "ac_string": "2~~dv.89"})
    assert answer.status == 201, answer.json
    receipt = answer.json["receipt"]
    assert receipt["tcf"] == {
        "tc_string": string, "ac_string": "2~~dv.89", "cmp_id": CMP_ID, "cmp_version": 1,
        "vendor_list_version": 5, "policy_version": 5,
        "purposes_consent": [1, 2], "purposes_li": [7, 10], "special_features": [1],
        "vendors_consent": [1], "vendors_li": [2, 8], "vendors_disclosed": VENDORS,
        "ac_consent": [], "ac_disclosed": [89],
    }
    assert receipt["state"] == "given"  # the TC string consents, though no site purpose does
    stored = ledger.get(db.session.connection(), receipt["receipt_id"])
    assert stored["tcf"] == receipt["tcf"]
    from cmp_server.consent.receipts import token_claims

    # the token stays small (a cookie): the banner keeps the strings itself
    assert len(answer.json["token"]) < 1000 and "tc" not in token_claims(answer.json["token"])
    kantara = post_kantara(live_server, answer.json["token"])
    assert kantara["iso27560"]["iabTcf"]["tc_string"] == string


def post_kantara(live_server, token: str) -> dict:
    from tests.support.http import call

    return call("POST", f"{live_server}/api/v1/receipts/verify", {"token": token}).json["kantara"]


@pytest.mark.parametrize("fields, fault", [
    ({"cmp_id": 301}, "tcf.cmp_id"),
    ({"vendors": [1, 2]}, "tcf.vendors_disclosed"),
    ({"disclosed": False}, "tcf"),  # no DisclosedVendors segment: not TCF v2.3
    ({"vendors_consent": [10]}, "tcf.vendors_disclosed"),  # a vendor the version never showed
    ({"language": "en"}, "tcf.consent_language"),  # not the banner's language
    ({"publisher_cc": "DE"}, "tcf.publisher_cc"),
    ({"purposes_li": [3]}, "tcf.purposes_li"),  # never on legitimate interest since TCF 2.2
    ({"purposes_consent": [11]}, "tcf.purposes_consent"),  # no vendor of the version uses it
    ({"special_features": [2]}, "tcf.special_features"),  # nor this
])
def test_a_string_that_disagrees_with_the_version_is_refused(live_server, tcf_shop, fields, fault):
    site, version, gvl = tcf_shop
    if "vendors" in fields or "vendors_consent" in fields:
        gvl = {**gvl, "vendors": {**gvl["vendors"], **({"10": gvl_document(5, [10])["vendors"]["10"]}
                                                      if "vendors_consent" in fields else {})}}
        if "vendors" in fields:
            gvl["vendors"] = {k: v for k, v in gvl["vendors"].items() if int(k) in fields["vendors"]}
    options = {k: v for k, v in fields.items() if k not in ("vendors",)}
    string = tc(gvl, **options)
    before = ledger_size()
    answer = post(live_server, site, config_version=version.number, action="accept_all",
                  tcf={"tc_string": string, "ac_string": "2~89~dv."})
    assert answer.status == 422, answer.json
    assert fault in answer.json["errors"]["json"]
    assert ledger_size() == before


def test_reject_all_must_signal_nothing(live_server, tcf_shop):
    site, version, gvl = tcf_shop
    sneaky = tc(gvl, vendors_li=[1, 2, 8], purposes_li=[7])
    answer = post(live_server, site, config_version=version.number, action="reject_all",
                  tcf={"tc_string": sneaky, "ac_string": "2~~dv.89"})
    assert answer.status == 422
    errors = answer.json["errors"]["json"]
    assert "a refusal signals nothing" in errors["tcf.vendors_li"][0]
    honest = post(live_server, site, config_version=version.number, action="reject_all",
                  tcf={"tc_string": tc(gvl), "ac_string": "2~~dv.89"})
    assert honest.status == 201
    assert honest.json["receipt"]["state"] == "refused"


def test_gpc_is_a_refusal_that_cannot_carry_consent(live_server, tcf_shop, app):
    site, version, gvl = tcf_shop
    everything = tc(gvl, purposes_consent=[1, 2, 3, 4], vendors_consent=VENDORS)
    answer = post(live_server, site, config_version=version.number, action="gpc", gpc=True,
                  tcf={"tc_string": everything, "ac_string": "2~89~dv."})
    assert answer.status == 422
    assert "a refusal signals nothing" in answer.json["errors"]["json"]["tcf.purposes_consent"][0]


def test_without_the_strings_the_choice_is_recorded_all_the_same(live_server, tcf_shop):
    """The TCF module could not load (a blocker): Reject all must still be remembered;
    nothing was signalled to TCF's vendors, and the receipt says so by having no tcf."""
    site, version, gvl = tcf_shop
    answer = post(live_server, site, config_version=version.number, action="reject_all")
    assert answer.status == 201
    assert "tcf" not in answer.json["receipt"]
    malformed = post(live_server, site, config_version=version.number, action="accept_all",
                     tcf={"tc_string": "not a TC string!"})
    assert malformed.status == 422
    assert "tcf" in str(malformed.json["errors"]["json"])


def test_the_record_outlives_what_the_tcf_vendors_keep(live_server, tcf_shop):
    """A TCF vendor's longest retention (its standard one or a purpose's) counts towards
    how long the proof is kept, as a catalogue vendor's does."""
    site, version, gvl = tcf_shop
    answer = post(live_server, site, config_version=version.number, action="custom",
                  purposes={"marketing": False},
                  tcf={"tc_string": tc(gvl, vendors_consent=[1]), "ac_string": "2~~dv.89"})
    assert answer.status == 201, answer.json
    assert answer.json["receipt"]["vendor_retention_months"]["tcf:1"] == 12  # 365 days


def test_an_ac_string_with_an_overlong_id_is_refused_not_a_crash(live_server, tcf_shop):
    site, version, gvl = tcf_shop
    answer = post(live_server, site, config_version=version.number, action="reject_all",
                  tcf={"tc_string": tc(gvl), "ac_string": "2~" + "9" * 5000 + "~dv.89"})
    assert answer.status == 422


def test_a_site_without_tcf_refuses_a_tc_string(live_server, shop):
    site, version = shop
    answer = post(live_server, site, config_version=version.number, action="accept_all",
                  tcf={"tc_string": "CQAAAAAQAAAAAAAAAAENA0EAAAAAAAAAAAAAAAAAAAAA"})
    assert answer.status == 422
    assert "does not use IAB TCF" in answer.json["errors"]["json"]["tcf"][0]


def ledger_size() -> int:
    from sqlalchemy import func, select

    from cmp_server.models import LEDGER_TABLES

    return db.session.execute(select(func.count()).select_from(LEDGER_TABLES.records)).scalar_one()
