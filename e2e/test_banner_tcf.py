"""IAB TCF v2.3 as an ad-funded publisher's visitors meet it, in Chromium, against a GVL the
tests write in IAB's format (no network): the first layer names the partners and purposes;
the settings layer lets the visitor consent per purpose, partner and special feature and
object to legitimate interest; each choice's TC string, decoded by IAB's own library
(@iabtcf/core), says exactly what was shown and chosen, and is what __tcfapi answers to
the page and to a cross-origin ad frame through the locator, on every change; the receipt
keeps the same string. A site without TCF defines no __tcfapi and loads no TCF module."""
from __future__ import annotations

import json

import pytest

from e2e.conftest import open_fixture, serious_violations, wait_recorded
from tests.support.gvl import gvl_document
from tests.support.iab import decode_gpp, decode_tc

pytestmark = pytest.mark.browser

CMP_ID = 300
VENDORS = [1, 2, 8, 10, 21]
ATPS = [{"id": 89, "name": "Example ATP One", "policy_url": "https://atp-one.example/privacy"},
        {"id": 1301, "name": "Example ATP Two", "policy_url": "https://atp-two.example/privacy"}]
TCF_DATA = "cb => __tcfapi('getTCData', 2, (data, ok) => cb(ok ? data : null))"


def publisher_gvl() -> dict:
    """The tests' GVL: vendors 1, 2, 8, 10 ask consent for purposes 1-4 with legitimate
    interest for 7 and 10 (8 and 10 also use precise geolocation); 21 relies on
    legitimate interest alone, for purposes 2, 7 and 8."""
    document = gvl_document(version=7, vendors=VENDORS)
    document["vendors"]["21"].update(purposes=[], legIntPurposes=[2, 7, 8], flexiblePurposes=[],
                                     specialFeatures=[])
    return document


@pytest.fixture
def tcf_site(app, banner_site):
    from cmp_server.sites import gvl

    gvl.store_gvl(publisher_gvl(), {})
    app.config["CMP_TCF_CMP_ID"] = CMP_ID
    banner_site.publish(tcf={"enabled": True, "vendors": VENDORS, "google_atps": ATPS})
    return banner_site


def open_tcf_page(new_page, site, width=1280, stub=True):
    page = new_page(width=width)
    frame = f"{site.cmp}/fixture/tcf-frame.html"
    open_fixture(page, site, "tcf.html", FRAME_JSON=json.dumps(frame),
                 STUB_SRC=f"{site.cmp}/banner/tcf-stub.js" if stub else "data:text/javascript,")
    page.locator("#cmp-banner").wait_for()
    return page


def tc_data(page_or_frame) -> dict:
    return page_or_frame.evaluate(f"() => new Promise({TCF_DATA})")


def settings_tcf(page):
    page.click("[data-cmp-action=customize]")
    part = page.locator("#cmp-banner [data-cmp-tcf]")
    part.wait_for()
    return part


def switch(page, kind: str, key: str, value: int):
    return page.locator(f"#cmp-banner [data-cmp-tcf-{kind}='{key}:{value}']")


def test_first_layer_names_the_partners_and_purposes(tcf_site, new_page, artifacts):
    for width in (1280, 390):
        page = open_tcf_page(new_page, tcf_site, width)
        intro = page.locator("#cmp-banner #cmp-d").inner_text()
        assert "our 7 partners" in intro  # five GVL vendors and two Google providers
        assert "Use limited data to select advertising" in intro
        assert "Precise geolocation data, and identification through device scanning" not in intro
        assert "Use precise geolocation data" in intro  # a special feature, by itself
        assert "legitimate interest" in intro
        # reject all on the first layer, as prominent as accept all
        reject = page.locator("[data-cmp-action=reject-all]").bounding_box()
        accept = page.locator("[data-cmp-action=accept-all]").bounding_box()
        assert (reject["width"], reject["height"]) == pytest.approx((accept["width"], accept["height"]), abs=2)
        page.screenshot(path=str(artifacts / f"banner-tcf-first-{width}.png"))
        part = settings_tcf(page)
        part.locator("h3").evaluate("h => h.scrollIntoView()")
        page.screenshot(path=str(artifacts / f"banner-tcf-settings-{width}.png"))
        vendor = part.locator("details", has_text="The Trade Desk")
        vendor.locator("summary").click()
        vendor.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"banner-tcf-partner-{width}.png"))
        assert serious_violations(page) == []


def test_settings_list_each_partner_with_what_it_does(tcf_site, new_page):
    page = open_tcf_page(new_page, tcf_site)
    part = settings_tcf(page)
    text = part.inner_text()
    for heading in ("Purposes", "Special features", "Special purposes", "Features", "Partners (5)",
                    "Google's ad technology providers (2)"):
        assert heading in text
    vendor = part.locator("details", has_text="The Trade Desk")
    vendor.locator("summary").click()
    facts = vendor.inner_text()
    assert "Purposes (legitimate interest)" in facts and "Measure content performance" in facts
    assert "Keeps data for" in facts and "365 days" in facts
    assert "IP addresses" in facts  # its data categories
    # consent switches start off; legitimate interest starts on, to be objected to
    assert not switch(page, "consent", "p", 1).is_checked()
    assert switch(page, "li", "p", 7).is_checked()
    assert switch(page, "li", "v", 21).is_checked()
    assert switch(page, "consent", "v", 21).count() == 0  # asks no consent
    assert switch(page, "li", "p", 1).count() == 0  # never legitimate interest for purpose 1


def test_a_custom_choice_decodes_to_exactly_what_was_chosen(tcf_site, new_page):
    page = open_tcf_page(new_page, tcf_site)
    settings_tcf(page)
    for kind, key, value in (("consent", "p", 1), ("consent", "p", 2), ("consent", "v", 1),
                             ("consent", "sf", 1), ("consent", "a", 89),
                             ("li", "p", 7), ("li", "v", 21)):
        switch(page, kind, key, value).click()
    page.click("#cmp-banner [data-cmp-action=save]")
    wait_recorded(page)

    sent = page.consents[-1]["tcf"]
    decoded = decode_tc(sent["tc_string"])
    assert decoded["cmp_id"] == CMP_ID and decoded["vendor_list_version"] == 7
    assert decoded["purposes_consent"] == [1, 2]
    assert decoded["purposes_li"] == [2, 8, 10]  # 7 objected to
    assert decoded["special_features"] == [1]
    assert decoded["vendors_consent"] == [1]
    assert decoded["vendors_li"] == [1, 2, 8, 10]  # 21 objected to
    assert decoded["vendors_disclosed"] == VENDORS
    assert sent["ac_string"] == "2~89~dv.1301"

    answered = tc_data(page)
    assert answered["tcString"] == sent["tc_string"]
    assert answered["addtlConsent"] == sent["ac_string"]
    assert answered["eventStatus"] == "useractioncomplete" and answered["gdprApplies"] is True

    # GPP carries the same TC string in its TCF EU section
    page.wait_for_function("() => new Promise(cb => __gpp('ping', d => cb(d.applicableSections[0] == 2)))")
    ping = page.evaluate("() => new Promise(cb => __gpp('ping', cb))")
    assert decode_gpp(ping["gppString"])["tcfeuv2"]["VendorConsents"] == [1]

    # the receipt keeps the very strings, and what they mean
    receipt = stored_receipt(page)
    assert receipt["tcf"]["tc_string"] == sent["tc_string"]
    assert receipt["tcf"]["vendors_consent"] == [1]
    assert receipt["state"] == "given"


def stored_receipt(page) -> dict:
    from cmp_server.models import ledger
    from cmp_server.platform.extensions import db

    receipt_id = page.evaluate("cmp.getConsent().receipt_id")
    return ledger.get(db.session.connection(), receipt_id)


def test_accept_and_reject_all_signal_everything_and_nothing(tcf_site, new_page):
    page = open_tcf_page(new_page, tcf_site)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    everything = decode_tc(page.consents[-1]["tcf"]["tc_string"])
    assert everything["purposes_consent"] == [1, 2, 3, 4, 7]  # those with consent (or flexible)
    assert everything["vendors_consent"] == [1, 2, 8, 10]
    assert everything["vendors_li"] == VENDORS
    assert everything["special_features"] == [1]
    assert page.consents[-1]["tcf"]["ac_string"] == "2~89.1301~dv."

    page.evaluate("cmp.rejectAll()")
    page.wait_for_function("__events.filter(e => e.status == 'useractioncomplete').length == 2")
    wait_recorded(page)
    nothing = decode_tc(page.consents[-1]["tcf"]["tc_string"])
    for field in ("purposes_consent", "purposes_li", "special_features", "vendors_consent", "vendors_li"):
        assert nothing[field] == []
    assert nothing["vendors_disclosed"] == VENDORS  # still disclosed to the visitor
    assert page.consents[-1]["tcf"]["ac_string"] == "2~~dv.89.1301"


@pytest.mark.parametrize("stub", [True, False], ids=["page-stub", "module-stub"])
def test_a_cross_origin_ad_frame_hears_every_change_through_the_locator(tcf_site, new_page, stub):
    """With IAB's stub on the page, or without (the module installs it)."""
    page = open_tcf_page(new_page, tcf_site, stub=stub)
    page.wait_for_function("!!document.getElementById('ad') && !!frames[0]")
    page.locator("#ad").element_handle().content_frame().wait_for_load_state()
    frame = page.frame(url=lambda url: url.split("?")[0].endswith("/tcf-frame.html"))
    frame.wait_for_function("window.__found === true")
    page.click("[data-cmp-action=accept-all]")
    frame.wait_for_function("__frameEvents.some(e => e.status == 'useractioncomplete')")
    accepted = tc_data(page)["tcString"]
    page.evaluate("cmp.rejectAll()")
    frame.wait_for_function("__frameEvents.filter(e => e.status == 'useractioncomplete').length == 2")
    rejected = tc_data(page)["tcString"]
    completed = [e["tc"] for e in frame.evaluate("__frameEvents") if e["status"] == "useractioncomplete"]
    assert completed == [accepted, rejected] and accepted != rejected
    # the frame's own getTCData, over postMessage, answers the page's string
    assert frame.evaluate("() => new Promise(cb => tcfapi('getTCData', 2, (d, ok) => cb(ok && d.tcString)))") == rejected
    assert page.locator("iframe[name=__tcfapiLocator]").count() == 1
    if stub:  # the page's own listener, registered with the stub, heard the same
        assert [e["tc"] for e in page.evaluate("__events") if e["status"] == "useractioncomplete"] == [accepted, rejected]
    # removeEventListener: no more events for that listener
    listener = frame.evaluate("__frameEvents[0].listenerId")
    assert frame.evaluate(f"() => new Promise(cb => tcfapi('removeEventListener', 2, (ok) => cb(ok), {listener}))")
    page.evaluate("cmp.acceptAll()")
    wait_recorded(page)
    assert tc_data(page)["tcString"] == accepted
    frame.evaluate("() => new Promise(cb => tcfapi('ping', 2, cb))")  # its messages have arrived
    assert len([e for e in frame.evaluate("__frameEvents") if e["status"] == "useractioncomplete"]) == 2


def test_the_next_page_view_answers_the_recorded_string(tcf_site, new_page):
    page = open_tcf_page(new_page, tcf_site)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    recorded = page.consents[-1]["tcf"]["tc_string"]
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e.status == 'tcloaded')")
    assert tc_data(page)["tcString"] == recorded
    assert page.locator("#cmp-banner").is_hidden()
    # the settings show the recorded choice
    page.click("#settings")
    page.locator("#cmp-banner [data-cmp-tcf]").wait_for()
    assert switch(page, "consent", "p", 1).is_checked()


def test_a_site_without_tcf_has_no_tcfapi(banner_site, new_page):
    page = new_page()
    modules = []
    page.on("request", lambda request: modules.append(request.url) if "/banner/m/" in request.url else None)
    open_fixture(page, banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    page.click("[data-cmp-action=customize]")
    page.locator("#cmp-banner.l2").wait_for()
    assert page.evaluate("typeof window.__tcfapi") == "undefined"
    assert page.evaluate("!window.frames.__tcfapiLocator")
    assert not [url for url in modules if "/m/tcf." in url]
    assert page.locator("#cmp-banner [data-cmp-tcf]").count() == 0


def test_a_choice_without_its_strings_signals_nothing(tcf_site, new_page):
    """A choice this browser has no strings for (made on the visitor's own page, or the
    browser's storage cleared) grants TCF's vendors nothing."""
    page = open_tcf_page(new_page, tcf_site)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    page.evaluate("localStorage.removeItem('cmp_tcf')")
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e.status == 'tcloaded')")
    decoded = decode_tc(tc_data(page)["tcString"])
    assert decoded["purposes_consent"] == [] and decoded["vendors_consent"] == []
    assert decoded["vendors_disclosed"] == VENDORS


def test_without_the_tcf_module_a_refusal_is_still_remembered(tcf_site, new_page):
    """A blocker that stops the TCF module must not make Reject all impossible."""
    page = new_page()
    page.route("**/banner/m/tcf.*", lambda route: route.abort())
    open_fixture(page, tcf_site, "tcf.html", FRAME_JSON=json.dumps("about:blank"),
                 STUB_SRC="data:text/javascript,")
    page.locator("#cmp-banner").wait_for()
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    assert "tcf" not in page.consents[-1]


def test_hundreds_of_partners_fit_in_the_cookie(app, banner_site, new_page):
    """The consent cookie must stay under what browsers keep (4 KB) however many partners
    a publisher lists: the choice is remembered on the next page."""
    from cmp_server.sites import gvl

    many = list(range(1, 1001))
    gvl.store_gvl(gvl_document(version=9, vendors=many), {})
    app.config["CMP_TCF_CMP_ID"] = CMP_ID
    atps = [{"id": i, "name": f"ATP {i}", "policy_url": f"https://atp{i}.example/privacy"}
            for i in range(1, 501)]
    banner_site.publish(tcf={"enabled": True, "vendors": many, "google_atps": atps})
    page = open_tcf_page(new_page, banner_site)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    assert len(next(c for c in page.context.cookies() if c["name"] == "cmp_consent")["value"]) < 3000
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e.status == 'tcloaded')")
    assert decode_tc(tc_data(page)["tcString"])["vendors_consent"] == many
    assert page.locator("#cmp-banner").is_hidden()


def test_a_partner_added_asks_again_and_says_so_to_ad_tech(tcf_site, new_page):
    """A new version with another partner asks again: until the visitor answers, __tcfapi
    answers the string in force with eventStatus cmpuishown, then the new choice."""
    page = open_tcf_page(new_page, tcf_site)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    recorded = page.consents[-1]["tcf"]["tc_string"]
    tcf_site.publish(tcf={"enabled": True, "vendors": VENDORS[:-1], "google_atps": ATPS})
    page.reload()
    page.locator("#cmp-banner").wait_for()
    page.wait_for_function("() => window.__events.length > 0")
    answered = tc_data(page)
    assert answered["eventStatus"] == "cmpuishown" and answered["tcString"] == recorded
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    assert decode_tc(tc_data(page)["tcString"])["vendors_disclosed"] == VENDORS[:-1]
