"""A US visitor's GPP string over real HTTP, on both engines: kept in the receipt and its
token for a site with US region rules, required from a US visitor's browser there, refused
anywhere else with the field and the reason."""
from __future__ import annotations

import pytest

from cmp_server.consent.receipts import token_claims
from tests.consent.test_receipts import ORIGIN, post
from tests.support.iab import decode_gpp, encode_gpp

CALIFORNIA = {**ORIGIN, "X-Forwarded-For": "128.32.0.1"}
SWEDEN = {**ORIGIN, "X-Forwarded-For": "130.237.0.1"}
OPT_OUT = {"SaleOptOut": 1, "SharingOptOut": 1}
OPTED_OUT = encode_gpp({"usnat": OPT_OUT, "usca": OPT_OUT})  # as IAB's library encodes it


@pytest.fixture
def us_shop(app, shop):
    from cmp_server.sites import versions

    site, _ = shop
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1
    versions.update_draft(site, {"region_rules": {"US": "opt-out"}})
    version, _ = versions.publish(site)
    return site, version


def test_an_opt_out_keeps_its_gpp_string(live_server, us_shop):
    site, version = us_shop
    answer = post(live_server, site, headers=CALIFORNIA, config_version=version.number,
                  action="reject_all", gpp={"gpp_string": OPTED_OUT, "sections": ["usnat", "usca"]})
    assert answer.status == 201, answer.json
    assert answer.json["receipt"]["gpp"] == {"gpp_string": OPTED_OUT, "sections": ["usca", "usnat"]}
    assert answer.json["receipt"]["region"] == "US-CA"
    assert "gp" not in token_claims(answer.json["token"])  # the cookie stays small
    assert decode_gpp(answer.json["receipt"]["gpp"]["gpp_string"])["usca"]["SaleOptOut"] == 1


def test_without_it_the_opt_out_is_recorded_all_the_same(live_server, us_shop):
    """The GPP module could not load: the opt-out must still count."""
    site, version = us_shop
    answer = post(live_server, site, headers=CALIFORNIA, config_version=version.number,
                  action="reject_all")
    assert answer.status == 201
    assert "gpp" not in answer.json["receipt"]


@pytest.mark.parametrize("headers, body, reason", [
    (SWEDEN, {"gpp_string": OPTED_OUT, "sections": ["usnat"]}, "for visitors in the US"),
    (CALIFORNIA, {"gpp_string": "not a GPP string", "sections": ["usnat"]}, "must be a GPP string"),
    (CALIFORNIA, {"gpp_string": OPTED_OUT, "sections": ["usxx"]}, "Must be one of"),
])
def test_a_gpp_string_out_of_place_is_refused(live_server, us_shop, headers, body, reason):
    site, version = us_shop
    answer = post(live_server, site, headers=headers, config_version=version.number,
                  action="reject_all", gpp=body)
    assert answer.status == 422
    assert reason in str(answer.json["errors"]["json"]["gpp"])


def test_a_site_without_us_rules_refuses_it(live_server, shop, app):
    site, version = shop
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1
    answer = post(live_server, site, headers=CALIFORNIA, config_version=version.number,
                  action="reject_all", gpp={"gpp_string": OPTED_OUT, "sections": ["usnat"]})
    assert answer.status == 422
    assert "does not use IAB GPP" in answer.json["errors"]["json"]["gpp"][0]


@pytest.mark.parametrize("region, section", [
    ("US-CA", "usca"), ("US-VA", "usva"), ("US-CO", "usco"), ("US-UT", "usut"),
    ("US-CT", "usct"), ("US-TX", "usnat"), ("US", "usnat"), ("SE-AB", None), (None, None),
])
def test_each_us_state_with_its_own_law_gets_its_section(app, region, section):
    """The banner's GPP module signals the national section and, in these states, theirs."""
    from cmp_server.banner.document import gpp_shown

    content = {"region_rules": {"US": "opt-out"}, "tcf": None}
    assert gpp_shown(content, region)["section"] == section
