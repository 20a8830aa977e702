"""Microsoft's consent signals as a site that lists Microsoft Advertising (UET) and
Clarity sets them, in Chromium: UET's consent mode and Clarity's consent API are denied
before either tag can load, granted or denied on every choice (in order), and denied again
on withdrawal; a site without them loads no Microsoft module and defines neither queue."""
from __future__ import annotations

import json

import pytest

from e2e.conftest import BANNER_VENDORS, open_fixture, ran, settled

pytestmark = pytest.mark.browser

MICROSOFT = [("microsoft-advertising", None), ("microsoft-clarity", None)]
UET_SRC = "https://bat.bing.com/bat.js"
CLARITY_SRC = "https://www.clarity.ms/tag/abcdef"
# what each tag's stub records as it runs: the queue it found
STUB = "(window.__ran = window.__ran || []).push({name} + ' saw ' + JSON.stringify({queue}));"


def add_microsoft_tags(page) -> None:
    page.route(UET_SRC, lambda route: route.fulfill(
        content_type="text/javascript",
        body=STUB.format(name='"uet"', queue="window.uetq")))
    page.route("https://www.clarity.ms/**", lambda route: route.fulfill(
        content_type="text/javascript",
        body=STUB.format(name='"clarity"', queue="Array.from(window.clarity.q, a => Array.from(a))")))
    page.evaluate("""([uet, clarity]) => {
        for (const [vendor, src] of [['microsoft-advertising', uet], ['microsoft-clarity', clarity]]) {
            const s = document.createElement('script');
            s.type = 'text/plain';
            s.setAttribute('data-cmp-vendor', vendor);
            s.src = src;
            document.body.append(s);
        }
    }""", [UET_SRC, CLARITY_SRC])


def queues(page) -> tuple[list, list]:
    return page.evaluate("""() => [
        (window.uetq || []).slice(),
        Array.from((window.clarity && window.clarity.q) || [], a => Array.from(a)),
    ]""")


def uet_calls(queue: list) -> list:
    """uetq.push('consent', x, {...}) pushes three items: back into calls."""
    return [queue[i:i + 3] for i in range(0, len(queue), 3)]


def clarity(ads: str, analytics: str) -> list:
    return ["consentv2", {"ad_Storage": ads, "analytics_Storage": analytics}]


def test_microsoft_signals_are_denied_first_then_follow_every_choice(banner_site, new_page):
    banner_site.publish(vendors=BANNER_VENDORS + MICROSOFT)
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()  # the module may follow: the tags wait for it
    add_microsoft_tags(page)
    page.wait_for_function("!!(window.uetq && window.clarity)")
    uet, clarity_q = queues(page)
    assert uet_calls(uet) == [["consent", "default", {"ad_storage": "denied"}]]
    assert clarity_q == [clarity("denied", "denied")]
    assert not [x for x in ran(page) if x.startswith(("uet", "clarity"))]  # held until granted

    page.click("[data-cmp-action=accept-all]")
    page.wait_for_function("__ran.some(x => x.startsWith('uet')) && __ran.some(x => x.startsWith('clarity'))")
    # each tag found its default denied and the update granted queued before it ran
    seen = {x.split(" saw ")[0]: json.loads(x.split(" saw ")[1]) for x in ran(page) if " saw " in x}
    assert uet_calls(seen["uet"]) == [["consent", "default", {"ad_storage": "denied"}],
                                      ["consent", "update", {"ad_storage": "granted"}]]
    assert seen["clarity"] == [clarity("denied", "denied"), clarity("granted", "granted")]

    page.evaluate("cmp.withdraw()")
    uet, clarity_q = queues(page)
    assert uet_calls(uet)[-1] == ["consent", "update", {"ad_storage": "denied"}]
    assert clarity_q[-1] == clarity("denied", "denied")


def test_clarity_without_marketing_shares_nothing_with_advertising(banner_site, new_page):
    banner_site.publish(vendors=BANNER_VENDORS + MICROSOFT)
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=customize]")
    page.check("[data-cmp-vendor-toggle=microsoft-clarity]")  # and with it analytics
    page.click("[data-cmp-action=save]")
    page.wait_for_function("cmp.hasConsent('microsoft-clarity')")
    uet, clarity_q = queues(page)
    assert clarity_q[-1] == clarity("denied", "granted")
    assert uet_calls(uet)[-1] == ["consent", "update", {"ad_storage": "denied"}]


def test_a_site_without_microsoft_vendors_loads_no_microsoft_module(banner_site, new_page):
    page = new_page()
    modules = []
    page.on("request", lambda r: modules.append(r.url) if "/banner/m/" in r.url else None)
    open_fixture(page, banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    settled(page)
    assert not [m for m in modules if "/microsoft." in m]
    assert page.evaluate("typeof window.uetq + typeof window.clarity") == "undefinedundefined"


def test_a_choice_made_before_the_signals_module_releases_nothing_until_it_ran(banner_site,
                                                                              new_page):
    banner_site.publish(vendors=BANNER_VENDORS + MICROSOFT)
    page = new_page()
    held = []
    page.route("**/banner/m/microsoft.*", lambda route: held.append(route))  # answered later
    open_fixture(page, banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()  # a visitor asked first does not wait for it
    add_microsoft_tags(page)
    page.click("[data-cmp-action=accept-all]")
    page.wait_for_function("window.cmp.getConsent().receipt_id")
    settled(page)
    assert ran(page) == []  # granted, and still held: the signals are not there yet
    held[0].continue_()
    page.wait_for_function("__ran.some(x => x.startsWith('clarity'))")
    seen = {x.split(" saw ")[0]: json.loads(x.split(" saw ")[1]) for x in ran(page) if " saw " in x}
    assert seen["clarity"][0] == clarity("denied", "denied")
    assert seen["clarity"][-1] == clarity("granted", "granted")
