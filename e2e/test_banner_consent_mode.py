"""Google Consent Mode v2 as a site sets it, in Chromium: the defaults come before any
Google tag (with the site's region defaults, ads data redaction and URL passthrough, which
from the second page view on precede the configuration too), and an advanced site's Google
tags load at once with every signal denied while a basic site's wait for consent."""
from __future__ import annotations

import pytest

from e2e.conftest import open_fixture, ran, released, settled

pytestmark = pytest.mark.browser

DATALAYER = """() => dataLayer.map(x => x.event ? x : Array.from(x))"""
DENIED = {"ad_storage": "denied", "ad_user_data": "denied", "ad_personalization": "denied",
          "analytics_storage": "denied", "functionality_storage": "denied",
          "personalization_storage": "denied", "security_storage": "granted"}
GRANTED_IN_US = ["consent", "default", {**{k: "granted" for k in DENIED}, "wait_for_update": 500,
                                        "region": ["US", "US-CA"]}]


def test_the_sites_defaults_come_before_any_google_tag(banner_site, new_page):
    banner_site.publish(region_rules={"US": "none", "US-CA": "opt-out"},
                        google_consent_mode={"ads_data_redaction": True, "url_passthrough": True})
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    page.wait_for_function("dataLayer.length >= 5")  # the google module may follow the banner
    layer = page.evaluate(DATALAYER)
    assert layer[0] == ["consent", "default", {**DENIED, "wait_for_update": 500}]
    assert layer[1:4] == [GRANTED_IN_US, ["set", "ads_data_redaction", True],
                          ["set", "url_passthrough", True]]
    # this visitor is asked first here (no region known): whatever Google's own placing
    # would grant, the signals are denied until the choice
    assert layer[4] == ["consent", "update", {k: v for k, v in DENIED.items()
                                              if k != "security_storage"}]
    # the next page view sets them before its configuration has arrived
    page.route("**/api/v1/sites/*/banner*", lambda route: None)  # held: never answered
    with page.expect_request("**/api/v1/sites/*/banner*"):
        page.reload()
    layer = page.evaluate(DATALAYER)
    assert layer[1:4] == [GRANTED_IN_US, ["set", "ads_data_redaction", True],
                          ["set", "url_passthrough", True]]
    # but never over a stored choice: it applies once the configuration says it still holds
    page.unroute("**/api/v1/sites/*/banner*")
    page.reload()
    page.click("[data-cmp-action=reject-all]")
    page.wait_for_function("window.cmp.getConsent().receipt_id")
    page.route("**/api/v1/sites/*/banner*", lambda route: None)
    with page.expect_request("**/api/v1/sites/*/banner*"):
        page.reload()
    assert GRANTED_IN_US not in page.evaluate(DATALAYER)


def test_a_signal_needs_the_google_vendor_of_its_purpose_too(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=customize]")
    page.check("[data-cmp-purpose-toggle=analytics]")  # Google Analytics and Mixpanel on
    page.uncheck("[data-cmp-vendor-toggle=google-analytics]")  # then Google Analytics off
    page.click("[data-cmp-action=save]")
    page.wait_for_function("dataLayer.some(x => x.event === 'cmp_consent_update')")
    update = next(x for x in page.evaluate(DATALAYER) if x[:2] == ["consent", "update"])
    assert update[2]["analytics_storage"] == "denied"
    assert page.evaluate("cmp.hasConsent('analytics') && cmp.hasConsent('mixpanel')")


def test_an_advanced_sites_google_tags_load_at_once_with_everything_denied(banner_site, new_page):
    banner_site.publish(google_consent_mode={"mode": "advanced"})
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    page.evaluate("""() => {  // not released: a Google pixel, a script naming another vendor too
        const img = document.createElement('img');
        img.id = 'ads-pixel';
        img.setAttribute('data-cmp-vendor', 'google-ads');
        img.setAttribute('data-cmp-src', '/js/ads-pixel.js');
        document.body.append(img);
        const mixed = document.createElement('script');
        mixed.type = 'text/plain';
        mixed.setAttribute('data-cmp-vendor', 'google-analytics facebook');
        mixed.text = '__ran.push("google and facebook")';
        document.body.append(mixed);
    }""")
    page.wait_for_function("__ran.includes('four.js')")  # Google Analytics, before a choice
    assert page.evaluate(DATALAYER)[-1][2]["analytics_storage"] == "denied"
    page.click("[data-cmp-action=reject-all]")
    released(page)  # what the choice released has run: nothing else
    assert ran(page) == ["four.js"]
    assert page.get_attribute("#ads-pixel", "src") is None


def test_a_basic_sites_google_tags_wait_for_consent(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    settled(page)
    assert ran(page) == []
    page.click("[data-cmp-action=reject-all]")
    released(page)
    assert ran(page) == []


def test_updates_follow_every_choice_in_order_and_withdrawal_denies_again(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    page.wait_for_function("window.cmp.getConsent().receipt_id")
    page.evaluate("cmp.withdraw()")
    page.wait_for_function("window.cmp.getConsent().state === 'withdrawn'")
    updates = [x[2] for x in page.evaluate(DATALAYER)
               if isinstance(x, list) and x[:2] == ["consent", "update"]]
    granted = {k: "granted" for k in DENIED if k != "security_storage"}
    denied = {k: "denied" for k in granted}
    assert updates[-2:] == [granted, denied]
    events = [x for x in page.evaluate(DATALAYER) if isinstance(x, dict)]
    assert len(events) >= 2 and all(e == {"event": "cmp_consent_update"} for e in events)
