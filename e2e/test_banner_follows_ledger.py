"""The site follows the ledger and a vendor needs all its purposes, in Chromium: a change or
an erasure made on /my-consent/ (the platform's origin) takes effect on the host page (an
origin of its own) at its next load; a vendor with two purposes is shown under both and
runs only with both; cmp:consent fires once per known choice, with the receipt id."""
from __future__ import annotations

import base64
import json

import pytest

from e2e.conftest import open_fixture, ran, wait_recorded

pytestmark = pytest.mark.browser

ANALYTICS = {"1 inline mixpanel", "3 inline analytics"}
MARKETING = {"5 inline facebook", "6 inline marketing"}


def claims(token: str) -> dict:
    payload = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def consent_token(page) -> str | None:
    return next((c["value"] for c in page.context.cookies(page.url) if c["name"] == "cmp_consent"),
                None)


def ran_scripts(page) -> set[str]:
    return {name.rsplit("/", 1)[-1] for name in ran(page)}


def watch_current(page) -> list[str]:
    """The state requests the banner makes (POST /api/v1/receipts/current)."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url)
            if r.url.endswith("/api/v1/receipts/current") else None)
    return asked


def open_my_consent(page):
    """The visitor follows the settings layer's link to their own page (a new tab on the
    platform's origin, the token in the URL fragment)."""
    page.click("#settings")
    with page.context.expect_page() as opened:
        page.click("text=See, download or delete my data")
    mine = opened.value
    mine.locator("h2", has_text="Change my choice").wait_for()
    page.keyboard.press("Escape")
    return mine


def settled(page, events: int = 1) -> None:
    """Until the banner has announced the page's choice."""
    page.wait_for_function("n => window.__events.length >= n", arg=events)


def test_a_change_on_my_consent_applies_at_the_next_page_view(banner_site, new_page, artifacts):
    page = open_fixture(new_page(), banner_site, "gating.html")
    asked = watch_current(page)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    first = claims(consent_token(page))
    # an ordinary page view: the configuration answers, nothing else is asked
    page.reload()
    settled(page)
    page.wait_for_function("window.__ran.length >= 6")
    assert asked == []
    mine = open_my_consent(page)
    assert "Banner test shop" in mine.content()
    mine.uncheck("input[name=purpose-analytics]")
    mine.click("text=Save my choice")
    mine.locator(".message").wait_for()
    assert "applies it from the next page" in mine.locator(".message").inner_text()
    assert mine.locator("article").count() == 2  # the updated history, not a raw token
    mine.screenshot(path=str(artifacts / "my-consent-changed-1280.png"), full_page=True)
    # the host page, next load: analytics no longer runs, marketing still does
    page.reload()
    settled(page)
    page.wait_for_function("window.__ran.length >= 2")
    assert ran_scripts(page) & ANALYTICS == set()
    assert MARKETING <= ran_scripts(page) and "four.js" not in ran_scripts(page)
    assert len(asked) == 1
    now = claims(consent_token(page))
    assert now["s"] == first["s"] and now["r"] != first["r"]
    assert page.evaluate("cmp.getConsent().receipt_id") == now["r"]
    page.click("#settings")
    assert not page.locator("[data-cmp-purpose-toggle=analytics]").is_checked()
    assert page.locator("[data-cmp-purpose-toggle=marketing]").is_checked()
    # and the next view is ordinary again
    page.keyboard.press("Escape")
    page.reload()
    settled(page)
    assert len(asked) == 1


def test_an_erasure_on_my_consent_makes_the_site_ask_again(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    mine = open_my_consent(page)
    mine.check("input[name=confirm]")
    mine.click("text=Erase my records")
    mine.locator(".message").wait_for()
    assert "asks for your choice again" in mine.locator(".message").inner_text()
    page.reload()
    page.locator("#cmp-banner [data-cmp-action=reject-all]").wait_for()
    assert ran(page) == []
    assert consent_token(page) is None
    assert page.evaluate("cmp.getConsent().receipt_id") is None
    # a new choice starts a new subject
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    assert page.consents[-1].get("token") is None


def test_a_vendor_with_two_purposes_needs_both(banner_site, new_page, artifacts):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=customize]")
    youtube = page.locator("[data-cmp-vendor-toggle=youtube]")
    youtube.first.wait_for()  # the settings layer (a module: there as soon as it has loaded)
    assert youtube.count() == 2  # under Preferences and under Marketing
    for section in ("preferences", "marketing"):
        listed = page.locator(f"[data-p={section}] .v", has_text="YouTube")
        assert "Runs only if you allow all of these" in listed.inner_text()
    page.check("[data-cmp-purpose-toggle=preferences]")
    assert not youtube.first.is_checked()  # marketing is still off
    page.screenshot(path=str(artifacts / "settings-multi-purpose-1280.png"))
    page.click("[data-cmp-action=save]")
    wait_recorded(page)
    assert page.consents[-1]["vendors"]["youtube"] is False
    assert page.get_attribute("#video", "src") is None
    assert not page.evaluate("cmp.hasConsent('youtube')")
    # switching the vendor on switches on every purpose it needs, in both places
    page.click("#settings")
    youtube.first.check()
    assert youtube.nth(1).is_checked()
    assert page.locator("[data-cmp-purpose-toggle=marketing]").is_checked()
    page.click("[data-cmp-action=save]")
    page.wait_for_function("cmp.hasConsent('youtube')")
    wait_recorded(page)
    assert page.get_attribute("#video", "src") == "/js/frame.js"


def test_the_consent_event_fires_once_per_choice_with_its_receipt(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    token = claims(consent_token(page))
    events = page.evaluate("__events")
    assert [e["receipt_id"] for e in events] == [token["r"]]
    # a reload announces the known choice once; a change once more, acknowledged
    page.reload()
    settled(page)
    page.evaluate("cmp.acceptAll()")
    settled(page, 2)
    wait_recorded(page)
    events = page.evaluate("__events")
    accepted = claims(consent_token(page))
    assert [(e["state"], e["receipt_id"]) for e in events] == [
        ("refused", token["r"]), ("given", accepted["r"])]


def test_past_the_lists_bound_an_older_token_asks_once(banner_site, new_page, monkeypatch):
    """With more stale receipts than the configuration lists, stale_before covers the rest:
    the banner whose token is older asks, applies the answer, and then stops asking."""
    from urllib.parse import urlencode

    from cmp_server.consent import sync
    from tests.support.http import call

    monkeypatch.setattr(sync, "MAX_LISTED", 0)  # nothing listed: stale_before says it all
    page = open_fixture(new_page(), banner_site, "gating.html")
    asked = watch_current(page)
    page.click("[data-cmp-action=accept-all]")
    wait_recorded(page)
    changed = call("POST", f"{banner_site.cmp}/my-consent/change",
                   raw=urlencode({"token": consent_token(page), "purpose-marketing": "on",
                                  "language": "en"}).encode(),
                   content_type="application/x-www-form-urlencoded")
    assert changed.status == 200
    page.reload()
    settled(page)
    assert page.evaluate("cmp.hasConsent('facebook') && !cmp.hasConsent('mixpanel')")
    assert len(asked) == 1
    page.reload()
    settled(page)
    assert len(asked) == 1
