"""The demo page of `make run`, with the real Mixpanel browser SDK (mixpanel-browser from
npm, served by the app): it neither runs nor sets a cookie before consent, runs and sets
its mp_*_mixpanel cookie after, and loses its cookies when consent is withdrawn."""
from __future__ import annotations

import re

import pytest

from e2e.conftest import decided, released, settled

pytestmark = pytest.mark.browser

MIXPANEL_COOKIE = re.compile(r"^mp_.+_mixpanel$")


def mixpanel_cookies(page) -> list[str]:
    return [c["name"] for c in page.context.cookies() if MIXPANEL_COOKIE.match(c["name"])]


def test_mixpanel_runs_only_with_consent_and_is_cleaned_up_on_withdrawal(make_run, page,
                                                                         artifacts):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.route("https://api-js.mixpanel.com/**", lambda route: route.abort())
    page.goto(f"{make_run.url}/demo/")
    page.locator("#cmp-banner").wait_for()
    page.wait_for_load_state("networkidle")
    settled(page)
    assert mixpanel_cookies(page) == []
    assert page.evaluate("typeof window.mixpanel") == "undefined"
    assert not any("/demo/vendor/" in url for url in requested)
    assert page.locator("#tags-that-ran li").count() == 0
    page.screenshot(path=str(artifacts / "demo-before-consent.png"))

    page.click("[data-cmp-action=accept-all]")
    page.wait_for_function("window.mixpanel && window.mixpanel.__loaded === true")
    page.wait_for_function("document.cookie.includes('_mixpanel=')")
    assert mixpanel_cookies(page) == ["mp_demo-project-token_mixpanel"]
    assert any(url.endswith("/demo/vendor/mixpanel.js") for url in requested)
    assert "Mixpanel tag ran" in page.locator("#tags-that-ran").inner_text()
    video = page.frame_locator("iframe[data-cmp-vendor=youtube]")
    assert "embed (stand-in) loaded" in video.locator("#embed").inner_text()
    page.screenshot(path=str(artifacts / "demo-after-consent.png"), full_page=True)

    page.click("#withdraw")
    page.wait_for_function("cmp.getConsent().state === 'withdrawn'")
    page.wait_for_function("!localStorage.getItem('cmp_pending')")
    assert mixpanel_cookies(page) == []
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('__mp'))") == []
    assert page.get_attribute("iframe[data-cmp-vendor=youtube]", "src") == "about:blank"

    requested.clear()
    page.reload()  # the next page view: Mixpanel stays off, and nobody asks again
    decided(page)
    page.wait_for_load_state("networkidle")
    released(page)
    assert mixpanel_cookies(page) == []
    assert page.evaluate("typeof window.mixpanel") == "undefined"
    assert not any("/demo/vendor/" in url for url in requested)
    assert page.locator("#cmp-banner").count() == 0 or page.locator("#cmp-banner").is_hidden()


def test_the_demo_page_fits_a_phone(make_run, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{make_run.url}/demo/")
        banner = page.locator("#cmp-banner")
        banner.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = banner.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the whole banner on screen
    finally:
        context.close()


def test_the_demo_shows_the_banner_in_the_browsers_language(make_run, browser):
    context = browser.new_context(locale="de-DE")
    try:
        page = context.new_page()
        page.goto(f"{make_run.url}/demo/")
        assert page.locator("[data-cmp-action=reject-all]").inner_text() == "Alle ablehnen"
        assert page.locator("#cmp-t").inner_text() == "Ihre Datenschutzauswahl"
    finally:
        context.close()
