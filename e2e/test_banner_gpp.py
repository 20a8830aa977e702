"""IAB GPP and the US "Do not sell or share" choice as a US publisher's visitors meet it, in
Chromium, their region from the shipped GeoLite2 database (the address reaches the server
as a trusted proxy's X-Forwarded-For): a Californian sees the opt-out link, the tags run
until they opt out (the link, or GPC), each opt-out is a receipt whose GPP string IAB's
own library (@iabgpp/cmpapi) reads as SaleOptOut and SharingOptOut 1, and sale-tagged
tags stop; a Swedish visitor sees no such link."""
from __future__ import annotations

import pytest

from e2e.conftest import open_fixture, ran, released, settled, wait_recorded
from e2e.test_banner_recording import GPC
from tests.support.iab import decode_gpp

pytestmark = pytest.mark.browser

CALIFORNIA = "128.32.0.1"  # US-CA in the shipped GeoLite2 database
SWEDEN = "130.237.0.1"
US_RULES = {"US": "opt-out"}


@pytest.fixture
def us_site(app, banner_site):
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1
    banner_site.publish(region_rules=US_RULES)
    return banner_site


def open_as(new_page, site, address: str, init_script: str | None = None):
    page = new_page()
    if init_script:
        page.add_init_script(init_script)
    page.route(f"{site.cmp}/api/**", lambda route: route.continue_(
        headers={**route.request.headers, "x-forwarded-for": address}))
    open_fixture(page, site, "gpp.html")
    page.locator("#cmp-root").wait_for(state="attached")
    return page


def gpp_sections(page) -> dict:
    string = page.evaluate("() => new Promise(cb => __gpp('ping', d => cb(d.gppString)))")
    return decode_gpp(string)


def test_a_californian_opts_out_with_the_link(us_site, new_page, artifacts):
    page = open_as(new_page, us_site, CALIFORNIA)
    link = page.locator("#dns")
    link.wait_for()
    assert link.inner_text() == "Do not sell or share my personal information"
    refuse = page.locator("#cmp-banner [data-cmp-action=reject-all]")
    assert refuse.inner_text() == "Do not sell or share my personal information"
    released(page)
    assert {"sale tag", "sharing tag"} <= set(ran(page))  # opt-out: they run until then
    page.screenshot(path=str(artifacts / "banner-us-ca-1280.png"))
    ping = page.evaluate("() => new Promise(cb => __gpp('ping', cb))")
    assert ping["applicableSections"] == [8]  # usca
    before = gpp_sections(page)
    assert before["usca"]["SaleOptOut"] == 2 and before["usnat"]["SaleOptOut"] == 2

    link.click()
    wait_recorded(page)
    sent = page.consents[-1]
    assert sent["action"] == "reject_all"
    sections = decode_gpp(sent["gpp"]["gpp_string"])
    for section in ("usca", "usnat"):
        assert sections[section]["SaleOptOut"] == 1
        assert sections[section]["SharingOptOut"] == 1
    assert sections["usnat"]["TargetedAdvertisingOptOut"] == 1
    assert gpp_sections(page)["usca"]["SaleOptOut"] == 1  # what __gpp answers now
    section = page.evaluate("() => new Promise(cb => __gpp('getSection', (s, ok) => cb(ok && s), 'usca'))")
    assert (section["SaleOptOut"], section["SharingOptOut"]) == (1, 1)
    # the receipt keeps the string, and sale-tagged tags no longer run
    receipt = page.evaluate("() => fetch(document.querySelector('script[data-site]').src.replace('/banner/cmp.js', '/api/v1/receipts/verify'), "
                            "{method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token: document.cookie.match(/cmp_consent=([^;]+)/)[1]})}).then(r => r.json())")
    assert receipt["receipt"]["gpp"]["gpp_string"] == sent["gpp"]["gpp_string"]
    assert receipt["receipt"]["region"] == "US-CA"
    page.evaluate("addSaleTag('sale tag after opt-out')")
    released(page)
    assert "sale tag after opt-out" not in ran(page)


def test_gpc_is_an_opt_out(us_site, new_page):
    page = open_as(new_page, us_site, CALIFORNIA, GPC)
    wait_recorded(page)
    sent = page.consents[-1]
    assert sent["action"] == "gpc"
    sections = decode_gpp(sent["gpp"]["gpp_string"])
    assert sections["usca"]["SaleOptOut"] == 1 and sections["usca"]["SharingOptOut"] == 1
    settled(page)
    assert "sale tag" not in ran(page)


def test_a_visitor_in_sweden_sees_no_opt_out_link(us_site, new_page):
    page = open_as(new_page, us_site, SWEDEN)
    page.locator("#cmp-banner").wait_for()
    assert page.locator("#dns").is_hidden()
    assert "Do not sell" not in page.locator("#cmp-banner").inner_text()
    ping = page.evaluate("() => new Promise(cb => __gpp('ping', cb))")
    assert ping["applicableSections"] == [-1]
    assert "sale tag" not in ran(page)  # asked first: nothing before consent
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    assert "gpp" not in page.consents[-1]
    released(page)
    assert "sale tag" in ran(page)  # sale goes with marketing consent
