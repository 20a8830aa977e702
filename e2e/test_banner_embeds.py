"""Click-to-load placeholders in Chromium: a held-back frame (YouTube on the gating
fixture, 320 x 180) shows who it is and what loading it means, sized like the frame;
nothing is requested from it before the visitor asks; "Load once" loads that frame and
records nothing; "Always allow YouTube" records a custom choice and loads it from then on.
The module comes only to pages with a held-back frame."""
from __future__ import annotations

import pytest

from e2e.conftest import open_fixture, serious_violations, settled, wait_recorded

pytestmark = pytest.mark.browser

PLACEHOLDER = "[data-cmp-placeholder=youtube]"


def watched(new_page, **options):
    """A page that lists its requests for the frame's source and for modules."""
    page = new_page(**options)
    page.frame_requests, page.module_requests = [], []
    page.on("request", lambda r: page.frame_requests.append(r.url) if "/js/frame.js" in r.url
            else page.module_requests.append(r.url) if "/banner/m/" in r.url else None)
    return page


def test_a_held_back_frame_waits_behind_its_placeholder_until_loaded_once(banner_site, new_page,
                                                                          artifacts):
    page = open_fixture(watched(new_page, bypass_csp=True), banner_site, "gating.html")
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    placeholder = page.locator(PLACEHOLDER)
    placeholder.wait_for()
    assert "Loading this content lets YouTube set cookies" in page.inner_text(f"{PLACEHOLDER} .p")
    box = placeholder.bounding_box()
    # as wide as the frame (320 px and its 2 px border); as tall, or taller when its text
    # needs the room: buttons cut off would be worse than a taller box
    assert box["width"] == 324 and box["height"] >= 184
    assert page.locator("#video").is_hidden() and page.get_attribute("#video", "src") is None
    assert page.frame_requests == []
    assert serious_violations(page) == []
    page.screenshot(path=str(artifacts / "embed-placeholder-1280.png"))
    consents = len(page.consents)
    # by keyboard: the placeholder's first button loads this frame once
    page.focus(f"{PLACEHOLDER} >> button >> nth=0")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('video').src.endsWith('/js/frame.js')")
    assert page.locator(PLACEHOLDER).count() == 0 and page.locator("#video").is_visible()
    settled(page)
    assert len(page.consents) == consents and not page.evaluate("cmp.hasConsent('youtube')")
    # the next page view asks again
    page.reload()
    page.locator(PLACEHOLDER).wait_for()
    assert page.get_attribute("#video", "src") is None


def test_always_allow_records_the_vendor_and_loads_it_from_then_on(banner_site, new_page):
    page = open_fixture(watched(new_page), banner_site, "gating.html")
    page.click("[data-cmp-action=reject-all]")
    wait_recorded(page)
    page.click(f"{PLACEHOLDER} >> text=Always allow YouTube")
    page.wait_for_function("document.getElementById('video').src.endsWith('/js/frame.js')")
    page.wait_for_function("window.cmp.getConsent().receipt_id && !localStorage.getItem('cmp_pending')"
                           " && window.cmp.hasConsent('youtube')")
    choice = page.consents[-1]
    assert choice["action"] == "custom" and choice["collection_method"] == "placeholder"
    assert choice["vendors"]["youtube"] is True and choice["vendors"]["mixpanel"] is False
    assert choice["purposes"] == {"preferences": True, "analytics": False, "marketing": True}
    assert page.locator(PLACEHOLDER).count() == 0
    page.reload()
    page.wait_for_function("document.getElementById('video').src.endsWith('/js/frame.js')")
    assert page.locator(PLACEHOLDER).count() == 0
    assert page.locator("#cmp-banner").is_hidden()


def test_the_module_loads_only_where_a_frame_is_held_back(banner_site, new_page):
    page = open_fixture(watched(new_page), banner_site, "gating.html")
    page.locator(PLACEHOLDER).wait_for(state="attached")
    assert len(embeds_loaded(page)) == 1
    page.click("[data-cmp-action=accept-all]")  # granted: the placeholder gives way
    page.wait_for_function("document.getElementById('video').src.endsWith('/js/frame.js')")
    assert page.locator(PLACEHOLDER).count() == 0
    page.reload()  # nothing held back any more: no module
    page.wait_for_function("document.getElementById('video').src.endsWith('/js/frame.js')")
    settled(page)
    assert len(embeds_loaded(page)) == 1  # only the first page view's
    plain = open_fixture(watched(new_page), banner_site, "lang.html")
    plain.locator("#cmp-banner").wait_for()
    assert embeds_loaded(plain) == []


def embeds_loaded(page) -> list[str]:
    return [url for url in page.module_requests if "/banner/m/embeds." in url]
