"""Recording choices: the POST, the cmp_consent cookie, retries, expiry, new versions that
ask again, withdrawal and what it deletes, Google Consent Mode, the cmp:consent event, GPC."""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from cmp_server.models import BannerImpression
from cmp_server.platform.extensions import db
from e2e.conftest import (
    BANNER_VENDORS, cookie_names, decided, open_fixture, ran, released, wait_recorded,
)
from tests.support.http import call
from tests.support.iab import decode_gpp

pytestmark = pytest.mark.browser

GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
DATALAYER = """() => dataLayer.map(x => x.event ? x : Array.from(x))"""


def claims(token: str) -> dict:
    payload = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def consent_cookie(page) -> dict:
    return next(c for c in page.context.cookies() if c["name"] == "cmp_consent")


def verify(banner_site, token: str) -> dict:
    return call("POST", f"{banner_site.cmp}/api/v1/receipts/verify", {"token": token}).json


def test_each_choice_is_recorded_and_kept_in_the_cookie(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    assert page.consents == [{"site": banner_site.key, "config_version": 1,
                              "action": "accept_all", "language": "en", "gpc": False}]
    cookie = consent_cookie(page)
    first = claims(cookie["value"])
    assert (cookie["sameSite"], cookie["secure"], cookie["path"]) == ("Lax", False, "/")
    assert abs(cookie["expires"] - first["e"]) < 5  # Max-Age: until the receipt expires
    assert first["st"] == "given" and first["k"] == banner_site.key
    assert page.evaluate("cmp.getConsent().receipt_id") == first["r"]
    # a narrower choice in the settings: custom, with the current token
    page.click("#settings")
    page.uncheck("[data-cmp-purpose-toggle=marketing]")
    page.uncheck("[data-cmp-purpose-toggle=preferences]")
    page.click("[data-cmp-action=save]")
    wait_recorded(page)
    page.wait_for_function(f"cmp.getConsent().receipt_id !== {json.dumps(first['r'])}")
    second = page.consents[1]
    assert second["action"] == "custom" and second["collection_method"] == "settings_layer"
    assert second["token"] == cookie["value"]
    assert second["purposes"] == {"preferences": False, "analytics": True, "marketing": False}
    assert second["vendors"] == {"google-analytics": True, "mixpanel": True,
                                 "facebook": False, "youtube": False}
    token = consent_cookie(page)["value"]
    answer = verify(banner_site, token)
    assert answer["status"] == "active"
    assert answer["receipt"]["previous_receipt_id"] == first["r"]
    assert verify(banner_site, cookie["value"])["status"] == "superseded"
    # the next page view applies the choice at once, without asking
    page.reload()
    decided(page)
    released(page)
    assert page.locator("#cmp-banner").is_hidden()
    assert len(ran(page)) >= 4 and "5 inline facebook" not in ran(page)


def test_a_choice_that_cannot_be_sent_applies_and_is_sent_later(banner_site, new_page):
    page = new_page()
    page.route("**/api/v1/consents", lambda route: route.abort())
    page = open_fixture(page, banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    page.wait_for_function("window.__ran.length >= 6")  # the choice applies regardless
    pending = json.loads(page.evaluate("localStorage.getItem('cmp_pending')"))
    assert pending["b"]["action"] == "accept_all"
    assert "cmp_consent" not in cookie_names(page)
    page.unroute("**/api/v1/consents")
    page.reload()  # a later page view: applied at once, sent again
    page.wait_for_function("window.__ran.length >= 6")
    wait_recorded(page)
    assert page.locator("#cmp-banner").is_hidden()
    failed, retried = page.consents  # the same choice, sent again
    assert failed == retried and retried["action"] == "accept_all"
    assert verify(banner_site, consent_cookie(page)["value"])["status"] == "active"


@pytest.mark.parametrize("action, later, asks", [
    ("accept-all", timedelta(days=300), False),
    ("accept-all", timedelta(days=400), True),   # consent lasts 12 months
    ("reject-all", timedelta(days=150), False),
    ("reject-all", timedelta(days=200), True),   # a refusal is remembered 6 months
])
def test_an_expired_choice_asks_again(banner_site, new_page, action, later, asks):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click(f"[data-cmp-action={action}]")
    wait_recorded(page)
    state = page.context.storage_state()
    future = new_page(storage_state=state)
    future.clock.set_fixed_time(datetime.now(timezone.utc) + later)
    open_fixture(future, banner_site, "gating.html")
    decided(future)
    assert future.locator("#cmp-banner").is_visible() is asks


def test_a_version_that_needs_more_consent_asks_again(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    state = page.context.storage_state()
    banner_site.publish(vendors=BANNER_VENDORS[:-1])  # one vendor fewer: still covered
    fewer = open_fixture(new_page(storage_state=state), banner_site, "gating.html")
    decided(fewer)
    assert fewer.locator("#cmp-banner").is_hidden()
    banner_site.publish(vendors=BANNER_VENDORS + [("hotjar", None)])  # a new vendor
    more = open_fixture(new_page(storage_state=state), banner_site, "gating.html")
    more.locator("#cmp-banner").wait_for()
    # what the earlier consent covered still applies meanwhile
    more.wait_for_function("window.__ran.length >= 6")
    assert more.evaluate("cmp.hasConsent('hotjar')") is False
    more.click("[data-cmp-action=accept-all]")
    wait_recorded(more)
    assert more.consents[-1]["config_version"] == banner_site.version.number == 3
    assert "vendor:hotjar" in claims(consent_cookie(more)["value"])["q"]


def test_withdrawal_records_unloads_and_deletes(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    assert page.get_attribute("#video", "src") == "/js/frame.js"
    # what the vendors would have stored (names and globs from the catalogue)
    page.evaluate("""() => {
        for (const c of ['_ga=1', '_ga_ABC123=1', 'mp_token1_mixpanel=1', '_fbp=1', 'keep=1'])
            document.cookie = c + '; path=/; max-age=3600';
        localStorage.setItem('__mpq_token1_ev', '[]');
        localStorage.setItem('unrelated', '1');
        sessionStorage.setItem('mp_tab_id_mixpanel_token1', 'x');
    }""")
    before = page.context.cookies()
    assert {"_ga", "_ga_ABC123", "mp_token1_mixpanel", "_fbp"} <= cookie_names(page)
    # narrowing: analytics off
    page.click("#settings")
    page.uncheck("[data-cmp-purpose-toggle=analytics]")
    page.click("[data-cmp-action=save]")
    wait_recorded(page)
    page.wait_for_function("!cmp.hasConsent('mixpanel')")
    names = cookie_names(page)
    assert not names & {"_ga", "_ga_ABC123", "mp_token1_mixpanel"}
    assert {"_fbp", "keep", "cmp_consent"} <= names
    assert page.evaluate("localStorage.getItem('__mpq_token1_ev')") is None
    assert page.get_attribute("#video", "src") == "/js/frame.js"  # YouTube still granted
    # withdrawing everything
    token = consent_cookie(page)["value"]
    events = page.evaluate("__events.length")
    page.evaluate("cmp.withdraw()")
    page.wait_for_function("cmp.getConsent().state === 'withdrawn'")
    wait_recorded(page)
    withdrawal = page.consents[-1]
    assert withdrawal["action"] == "withdraw" and withdrawal["token"] == token
    assert page.evaluate("__events.length") > events
    assert page.evaluate("__events[__events.length - 1].state") == "withdrawn"
    assert page.get_attribute("#video", "src") == "about:blank"  # the frame is unloaded
    assert page.get_attribute("#pixel", "src") is None
    names = cookie_names(page)
    assert "_fbp" not in names and {"keep", "cmp_consent"} <= names
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("localStorage.getItem('unrelated')") == "1"
    assert verify(banner_site, consent_cookie(page)["value"])["status"] == "withdrawn"
    assert len(before) > len(page.context.cookies())


def test_revoked_cookies_go_from_the_page_domain_and_its_parents(banner_site, new_page):
    """On www.shop.localhost a vendor cookie may sit on the host, on .www.shop.localhost
    or on .shop.localhost: all of them go."""
    origin = f"http://www.shop.localhost:{banner_site.port}"
    page = open_fixture(new_page(), banner_site, "gating.html", origin=origin)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    page.evaluate("""() => {
        document.cookie = '_ga=host; path=/; max-age=3600';
        document.cookie = '_ga_P1=parent; path=/; max-age=3600; domain=.shop.localhost';
        document.cookie = '_fbp=self; path=/; max-age=3600; domain=.www.shop.localhost';
        document.cookie = 'keep=1; path=/; max-age=3600; domain=.shop.localhost';
    }""")
    domains = {(c["name"], c["domain"]) for c in page.context.cookies()}
    assert {("_ga", "www.shop.localhost"), ("_ga_P1", ".shop.localhost"),
            ("_fbp", ".www.shop.localhost")} <= domains
    page.evaluate("cmp.rejectAll()")
    wait_recorded(page)
    page.wait_for_function("cmp.getConsent().state === 'refused'")
    names = cookie_names(page)
    assert not names & {"_ga", "_ga_P1", "_fbp"}
    assert {"keep", "cmp_consent"} <= names


def test_google_consent_mode_v2(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    layer = page.evaluate(DATALAYER)
    assert layer[0] == ["consent", "default", {
        "ad_storage": "denied", "ad_user_data": "denied", "ad_personalization": "denied",
        "analytics_storage": "denied", "functionality_storage": "denied",
        "personalization_storage": "denied", "security_storage": "granted",
        "wait_for_update": 500}]
    assert len(layer) == 1  # no Google tag has run, nothing granted
    page.click("[data-cmp-action=customize]")
    page.check("[data-cmp-purpose-toggle=analytics]")
    page.click("[data-cmp-action=save]")
    page.wait_for_function("dataLayer.length >= 3")
    layer = page.evaluate(DATALAYER)
    assert layer[1] == ["consent", "update", {
        "ad_storage": "denied", "ad_user_data": "denied", "ad_personalization": "denied",
        "analytics_storage": "granted", "functionality_storage": "denied",
        "personalization_storage": "denied"}]
    assert layer[2] == {"event": "cmp_consent_update"}
    page.evaluate("cmp.acceptAll()")
    page.wait_for_function("dataLayer.length >= 5")
    assert set(page.evaluate(DATALAYER)[3][2].values()) == {"granted"}


def test_the_consent_event_reports_each_known_choice(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    assert page.evaluate("__events") == []  # nothing known yet
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    detail = page.evaluate("__events[0]")
    assert detail["state"] == "refused" and detail["mode"] == "opt-in"
    assert detail["purposes"] == {"necessary": True, "preferences": False,
                                  "analytics": False, "marketing": False}
    assert detail["vendors"]["craft-cms"] is True and detail["vendors"]["mixpanel"] is False
    assert detail["expires_at"].endswith("Z")
    page.reload()
    page.wait_for_function("__events.length > 0")
    assert page.evaluate("__events[__events.length - 1].state") == "refused"
    assert page.evaluate("cmp.getConsent().receipt_id") == claims(
        consent_cookie(page)["value"])["r"]


def test_gpc_in_an_opt_in_region_keeps_marketing_off_and_says_so(banner_site, new_page):
    page = new_page()
    page.add_init_script(GPC)
    page = open_fixture(page, banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    assert "Global Privacy Control" in page.locator(".gpc").inner_text()
    page.click("[data-cmp-action=customize]")
    assert not page.locator("[data-cmp-purpose-toggle=marketing]").is_checked()
    page.check("[data-cmp-purpose-toggle=analytics]")
    page.click("[data-cmp-action=save]")
    wait_recorded(page)
    assert page.consents[0]["gpc"] is True
    assert page.consents[0]["purposes"]["marketing"] is False


@pytest.fixture
def opt_out_region(app, banner_site):
    """Visitors from California (US-CA, behind one trusted proxy) get an opt-out notice."""
    app.config["CMP_TRUSTED_PROXY_HOPS"] = 1
    banner_site.publish(region_rules={"US-CA": "opt-out"})
    return {"extra_http_headers": {"X-Forwarded-For": "128.32.0.1"}}


def test_gpc_in_an_opt_out_region_is_applied_and_recorded_without_asking(
        banner_site, new_page, opt_out_region):
    page = new_page(**opt_out_region)
    page.add_init_script(GPC)
    page = open_fixture(page, banner_site, "gating.html")
    dialog = page.locator("#cmp-banner")
    dialog.wait_for()
    wait_recorded(page)
    gpp = page.consents[0].pop("gpp")  # the site's rules name a US region: IAB GPP
    assert page.consents == [{"site": banner_site.key, "config_version": 2, "action": "gpc",
                              "language": "en", "gpc": True, "collection_method": "gpc_signal"}]
    assert decode_gpp(gpp["gpp_string"])["usca"]["SaleOptOut"] == 1  # GPC is an opt-out
    receipt = verify(banner_site, consent_cookie(page)["value"])["receipt"]
    assert (receipt["action"], receipt["gpc"], receipt["region"]) == ("gpc", True, "US-CA")
    assert receipt["collection_method"] == "gpc_signal"
    # a notice, not a question: it says the signal was honoured
    assert dialog.get_attribute("aria-modal") is None
    assert "Global Privacy Control" in dialog.inner_text()
    assert dialog.locator("[data-cmp-action]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-cmp-action'))") == ["close", "customize"]
    assert page.evaluate("cmp.getConsent().mode") == "opt-out"
    assert page.evaluate("cmp.hasConsent('marketing')") is False
    released(page)
    assert "6 inline marketing" not in ran(page)
    page.click("[data-cmp-action=close]")
    assert dialog.is_hidden()


def test_an_opt_out_region_runs_tags_until_the_visitor_objects(
        banner_site, new_page, opt_out_region):
    page = open_fixture(new_page(**opt_out_region), banner_site, "gating.html")
    dialog = page.locator("#cmp-banner")
    dialog.wait_for()
    assert dialog.get_attribute("aria-modal") is None  # a notice, not modal
    page.wait_for_function("window.__ran.length >= 6")
    assert page.consents == []  # nothing chosen yet
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    assert page.consents[0]["action"] == "reject_all"
    assert page.evaluate("cmp.hasConsent('mixpanel')") is False


def test_the_settings_show_the_consent_id_and_link_to_the_visitors_page(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    page.wait_for_function("cmp.getConsent().receipt_id !== null")
    token = consent_cookie(page)["value"]
    page.click("#settings")
    consent_id = page.locator("#cmp-banner .id code").inner_text()
    assert consent_id == claims(token)["r"]
    link = page.locator("#cmp-banner .id a").get_attribute("href")
    assert link == f"{banner_site.cmp}/my-consent/#token={token}"
    # the visitor's page takes the token from the fragment and shows their record
    mine = page.context.new_page()
    mine.goto(link)
    mine.wait_for_selector(f'article[data-receipt="{consent_id}"]')
    assert "You accepted all purposes." in mine.content()


def test_the_banner_counts_each_time_it_asks_and_not_after_a_choice(banner_site, new_page):
    def shown() -> int:
        db.session.expire_all()
        return sum(i.count for i in db.session.query(BannerImpression).filter_by(
            site_key=banner_site.key))

    page = open_fixture(new_page(), banner_site, "gating.html")
    page.wait_for_selector("#cmp-banner [data-cmp-action=accept-all]")
    deadline = time.monotonic() + 5
    while shown() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shown() == 1
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    counted = []
    page.on("request", lambda request: counted.append(request.url)
            if request.url.endswith("/impressions") else None)
    page.reload()
    decided(page)  # the banner counts (or not) as it decides
    page.wait_for_load_state("networkidle")
    assert counted == [] and shown() == 1  # the returning visitor is not asked, so not counted
