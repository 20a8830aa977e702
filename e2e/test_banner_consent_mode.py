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
GRANTED_IN_US = ["consent", "default", {**{k: "granted" for k in DENIED}, "region": ["US", "US-CA"]}]


def test_the_sites_defaults_come_before_any_google_tag(banner_site, new_page):
    banner_site.publish(region_rules={"US": "none", "US-CA": "opt-out"},
                        google_consent_mode={"ads_data_redaction": True, "url_passthrough": True})
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    layer = page.evaluate(DATALAYER)
    assert layer[0] == ["consent", "default", {**DENIED, "wait_for_update": 500}]
    assert layer[1:4] == [GRANTED_IN_US, ["set", "ads_data_redaction", True],
                          ["set", "url_passthrough", True]]
    # the next page view sets them before its configuration has arrived
    page.route("**/api/v1/sites/*/banner*", lambda route: None)  # held: never answered
    with page.expect_request("**/api/v1/sites/*/banner*"):
        page.reload()
    layer = page.evaluate(DATALAYER)
    assert layer[1:4] == [GRANTED_IN_US, ["set", "ads_data_redaction", True],
                          ["set", "url_passthrough", True]]


def test_an_advanced_sites_google_tags_load_at_once_with_everything_denied(banner_site, new_page):
    banner_site.publish(google_consent_mode={"mode": "advanced"})
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    page.wait_for_function("__ran.includes('four.js')")  # Google Analytics, before a choice
    assert page.evaluate(DATALAYER)[-1][2]["analytics_storage"] == "denied"
    page.click("[data-cmp-action=reject-all]")
    released(page)  # what the choice released has run: nothing else
    assert ran(page) == ["four.js"]


def test_a_basic_sites_google_tags_wait_for_consent(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    settled(page)
    assert ran(page) == []
    page.click("[data-cmp-action=reject-all]")
    released(page)
    assert ran(page) == []
