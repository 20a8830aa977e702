"""The banner's two layers in Chromium: the DOM contract, Reject as prominent as Accept,
the settings layer, languages, keyboard-only use, small screens, screenshots."""
from __future__ import annotations

import re

import pytest

from e2e.conftest import active, open_fixture, ran, serious_violations

pytestmark = pytest.mark.browser

BUTTON_STYLE = """el => { const s = getComputedStyle(el), r = el.getBoundingClientRect();
  return {width: Math.round(r.width), height: Math.round(r.height), background: s.backgroundColor,
          color: s.color, font: s.font, border: s.border, radius: s.borderRadius,
          padding: s.padding, parent: el.parentElement.className}; }"""


def rgb(colour: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", colour)[:3])


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two computed rgb() colours."""
    def luminance(colour):
        channels = [c / 255 for c in rgb(colour)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_first_layer_follows_the_dom_contract(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    dialog = page.locator("#cmp-banner")
    dialog.wait_for()
    assert page.evaluate("document.getElementById('cmp-root').shadowRoot.mode") == "open"
    assert page.evaluate("!!document.getElementById('cmp-root').shadowRoot"
                         ".getElementById('cmp-banner')")
    assert dialog.get_attribute("role") == "dialog"
    assert dialog.get_attribute("aria-modal") == "true"
    heading = page.locator("#cmp-t")
    assert dialog.get_attribute("aria-labelledby") == "cmp-t"
    assert heading.inner_text() == "Your privacy choices"
    assert page.locator("#cmp-d").is_visible()
    actions = dialog.locator("[data-cmp-action]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-cmp-action'))")
    assert actions == ["reject-all", "accept-all", "customize"]
    assert active(page) == "cmp-banner"  # focus moved into the dialog
    assert ran(page) == []  # nothing before a choice


def test_reject_all_is_exactly_as_prominent_as_accept_all(banner_site, new_page):
    for width in (1280, 360):
        page = open_fixture(new_page(width=width), banner_site, "gating.html")
        reject = page.locator("[data-cmp-action=reject-all]")
        accept = page.locator("[data-cmp-action=accept-all]")
        reject.wait_for()
        assert reject.evaluate(BUTTON_STYLE) == accept.evaluate(BUTTON_STYLE)
        style = accept.evaluate(BUTTON_STYLE)
        assert style["height"] >= 44  # a comfortable target
        assert contrast(style["color"], style["background"]) >= 4.5  # WCAG AA
        dialog = page.locator("#cmp-banner").evaluate(
            "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
        assert contrast(*dialog) >= 4.5


def test_theme_and_texts_come_from_the_configuration(banner_site, new_page):
    banner_site.publish(theme={"accent": "#8a1538", "bg": "#fffbe6"},
                        texts={"en": {"title": "Cookies at Shop AB"},
                               "sv": {"title": "Kakor hos Shop AB"}})
    page = open_fixture(new_page(), banner_site, "gating.html")
    assert page.locator("#cmp-t").inner_text() == "Cookies at Shop AB"
    accept = page.locator("[data-cmp-action=accept-all]")
    assert accept.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(138, 21, 56)"
    assert page.locator("#cmp-banner").evaluate(
        "el => getComputedStyle(el).backgroundColor") == "rgb(255, 251, 230)"
    assert accept.evaluate(BUTTON_STYLE) == page.locator(
        "[data-cmp-action=reject-all]").evaluate(BUTTON_STYLE)
    # site texts are per language; a UI language the site has no texts in keeps its own
    page = open_fixture(new_page(), banner_site, "lang.html", lang="sv")
    assert page.locator("#cmp-t").inner_text() == "Kakor hos Shop AB"
    page = open_fixture(new_page(), banner_site, "lang.html", lang="fr")
    assert page.locator("#cmp-t").inner_text() == "Vos choix de confidentialité"


def test_settings_layer_lists_purposes_then_their_vendors(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=customize]")
    dialog = page.locator("#cmp-banner")
    page.locator("#cmp-banner.l2").wait_for()  # the settings module, once loaded
    assert page.locator("#cmp-t").inner_text() == "Privacy settings"
    assert dialog.get_attribute("aria-modal") == "true"
    purposes = dialog.locator("[data-cmp-purpose-toggle]")
    assert purposes.evaluate_all("els => els.map(e => e.getAttribute('data-cmp-purpose-toggle'))") \
        == ["necessary", "preferences", "analytics", "marketing"]
    necessary = dialog.locator("[data-cmp-purpose-toggle=necessary]")
    assert necessary.is_checked() and necessary.is_disabled()
    assert dialog.locator("[data-cmp-vendor-toggle=craft-cms]").is_checked()
    assert dialog.locator("[data-cmp-vendor-toggle=craft-cms]").is_disabled()
    for toggle in ("[data-cmp-purpose-toggle=analytics]", "[data-cmp-purpose-toggle=marketing]",
                   "[data-cmp-vendor-toggle=mixpanel]", "[data-cmp-vendor-toggle=facebook]"):
        assert not dialog.locator(toggle).is_checked(), toggle  # off by default
        assert dialog.locator(toggle).get_attribute("role") == "switch"
    # each vendor sits under its purpose, with the facts a visitor needs
    analytics = dialog.locator("section[data-p=analytics]")
    assert analytics.locator("[data-cmp-vendor-toggle]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-cmp-vendor-toggle'))") \
        == ["google-analytics", "mixpanel"]
    mixpanel = analytics.locator("details", has_text="Mixpanel")
    mixpanel.locator("summary").click()
    text = mixpanel.inner_text()
    assert "Mixpanel, Inc." in text and "measures how visitors use our website" in text
    assert "Data retention" in text and "24 months" in text
    assert "Data location" in text and "US" in text
    assert "mp_*_mixpanel" in text and "cookie, 365 days" in text
    assert "localStorage" in text
    policy = mixpanel.locator("a").get_attribute("href")
    assert policy == "https://mixpanel.com/legal/privacy-policy/"
    # the footer offers the same fair choice, plus saving the toggles
    assert dialog.locator(".bar [data-cmp-action]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-cmp-action'))") \
        == ["reject-all", "accept-all", "save"]


def test_language_from_html_lang_then_browser_then_site_default(banner_site, new_page):
    cases = [
        ({"lang": "de"}, {}, "Alle ablehnen", "Statistik"),
        ({"lang": "fr"}, {}, "Tout refuser", "Mesure d'audience"),
        ({"lang": "pl-PL"}, {"locale": "de-DE"}, "Odrzuć wszystkie", "Analityczne"),  # the page's first
        ({}, {"locale": "nb-NO"}, "Avvis alle", "Statistikk"),       # else the browser's
        ({}, {"locale": "ja-JP"}, "すべて拒否する", "分析"),
        ({}, {"locale": "sw-KE"}, "Reject all", "Analytics"),        # none of them: the site's default
    ]
    for params, options, reject, analytics in cases:
        page = open_fixture(new_page(**options), banner_site, "lang.html", **params)
        assert page.locator("[data-cmp-action=reject-all]").inner_text() == reject, params
        page.click("[data-cmp-action=customize]")
        assert page.locator("section[data-p=analytics] h3").inner_text() == analytics, params


def test_keyboard_only(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.locator("#cmp-banner").wait_for()
    assert active(page) == "cmp-banner"
    seen = []
    for _ in range(8):  # focus cycles inside the dialog and never leaves it
        page.keyboard.press("Tab")
        seen.append(active(page))
    assert seen[:4] == ["a", "reject-all", "accept-all", "customize"]
    assert seen[4:8] == seen[:4]
    page.keyboard.press("Tab")
    assert active(page) == "a"
    page.keyboard.press("Shift+Tab")  # backwards from the first wraps to the last
    assert active(page) == "customize"
    ring = page.evaluate("""() => { const a = document.getElementById('cmp-root').shadowRoot
        .activeElement, s = getComputedStyle(a); return [s.outlineStyle, s.outlineWidth]; }""")
    assert ring[0] == "solid" and float(ring[1][:-2]) >= 2  # a visible focus ring
    page.keyboard.press("Enter")
    page.locator("#cmp-banner.l2").wait_for()  # the settings module, once loaded
    assert page.locator("#cmp-t").inner_text() == "Privacy settings"
    while active(page) != "analytics":
        page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.locator("[data-cmp-purpose-toggle=analytics]").is_checked()
    assert page.locator("[data-cmp-vendor-toggle=mixpanel]").is_checked()
    page.keyboard.press("Escape")  # leaves the settings layer, back to the first
    assert page.locator("#cmp-t").inner_text() == "Your privacy choices"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert active(page) == "reject-all"
    page.keyboard.press("Enter")
    page.locator("#cmp-banner").wait_for(state="hidden")
    page.wait_for_function("window.cmp.getConsent().state === 'refused'")
    assert ran(page) == []
    # reopen from the page's own link, by keyboard
    page.focus("#settings")
    page.keyboard.press("Enter")
    page.locator("#cmp-banner.l2").wait_for()  # the settings module, once loaded
    assert page.locator("#cmp-t").inner_text() == "Privacy settings"
    page.keyboard.press("Escape")  # a choice exists: Escape closes
    page.locator("#cmp-banner").wait_for(state="hidden")


def test_small_screens_and_no_layout_shift(banner_site, new_page, artifacts):
    for width, name in ((1280, "desktop"), (360, "phone"), (320, "phone-320")):
        page = open_fixture(new_page(width=width, height=720 if width < 1000 else 800),
                            banner_site, "gating.html")
        page.wait_for_load_state("domcontentloaded")
        before = page.locator("#top").bounding_box()
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        dialog = page.locator("#cmp-banner")
        dialog.wait_for()
        assert page.locator("#top").bounding_box() == before  # the host page did not move
        assert page.evaluate("document.documentElement.scrollWidth") == scroll_width
        for layer in (1, 2):
            box = dialog.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, layer)
            assert dialog.evaluate("el => el.scrollWidth <= el.clientWidth"), (width, layer)
            for button in dialog.locator("button").all():
                b = button.bounding_box()
                assert b["x"] >= 0 and b["x"] + b["width"] <= width
            if width != 320:
                page.mouse.move(0, 0)  # no hover state in the pictures
                page.screenshot(path=str(artifacts / f"banner-layer{layer}-{name}.png"))
            if layer == 1:
                page.click("[data-cmp-action=customize]")
        # the settings layer's buttons stay reachable at the bottom of a small screen
        save = page.locator("[data-cmp-action=save]")
        save.wait_for()  # the settings module, once loaded
        assert save.is_visible() and save.bounding_box()["y"] + 44 <= page.viewport_size["height"]


PLACE = """el => { const r = el.getBoundingClientRect();
  return {left: Math.round(r.left), right: Math.round(innerWidth - r.right),
          top: Math.round(r.top), bottom: Math.round(innerHeight - r.bottom),
          width: Math.round(r.width), middle: Math.round(r.top + r.height / 2 - innerHeight / 2)}; }"""


@pytest.mark.parametrize("layout, where", [
    ("bar-bottom", lambda p, w: p["left"] == 0 and p["right"] == 0 and p["bottom"] == 0),
    ("bar-top", lambda p, w: p["left"] == 0 and p["right"] == 0 and p["top"] == 0),
    ("box-left", lambda p, w: p["left"] == 8 and p["bottom"] == 8 and (w < 500 or p["width"] < 450)),
    ("box-right", lambda p, w: p["right"] == 8 and p["bottom"] == 8 and (w < 500 or p["width"] < 450)),
    ("modal", lambda p, w: abs(p["middle"]) <= 1 and abs(p["left"] - p["right"]) <= 1),
])
def test_each_layout_puts_the_first_layer_where_the_site_chose(banner_site, new_page, artifacts,
                                                                layout, where):
    banner_site.publish(theme={"layout": layout, "scheme": "auto"})
    for width, scheme in ((1280, "light"), (390, "dark")):
        page = open_fixture(new_page(width=width, height=800, color_scheme=scheme, bypass_csp=True),
                            banner_site, "gating.html")
        dialog = page.locator("#cmp-banner")
        dialog.wait_for()
        place = dialog.evaluate(PLACE)
        assert where(place, width), (layout, width, place)
        # both answers visible, of equal weight
        reject = page.locator("[data-cmp-action=reject-all]")
        accept = page.locator("[data-cmp-action=accept-all]")
        assert reject.is_visible() and accept.is_visible()
        assert reject.evaluate(BUTTON_STYLE) == accept.evaluate(BUTTON_STYLE)
        assert serious_violations(page) == [], (layout, scheme)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(artifacts / f"banner-{layout}-{width}.png"))
        page.click("[data-cmp-action=customize]")  # the settings: on screen, whole width at most
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["y"] >= 0


def test_dark_mode_always_or_following_the_visitors_system(banner_site, new_page, artifacts):
    colours = "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color]"
    banner_site.publish(theme={"scheme": "auto", "dark-bg": "#101820"})
    dark = open_fixture(new_page(color_scheme="dark"), banner_site, "gating.html")
    background, text = dark.locator("#cmp-banner").evaluate(colours)
    assert background == "rgb(16, 24, 32)" and contrast(background, text) >= 4.5
    accept = dark.locator("[data-cmp-action=accept-all]").evaluate(colours)
    assert contrast(*accept) >= 4.5
    dark.screenshot(path=str(artifacts / "banner-dark-1280.png"))
    light = open_fixture(new_page(color_scheme="light"), banner_site, "gating.html")
    assert light.locator("#cmp-banner").evaluate(colours)[0] == "rgb(255, 255, 255)"
    banner_site.publish(theme={"scheme": "dark"})  # forced, whatever the system says
    forced = open_fixture(new_page(color_scheme="light"), banner_site, "gating.html")
    assert forced.locator("#cmp-banner").evaluate(colours)[0] == "rgb(22, 27, 34)"


def test_the_settings_layer_goes_back_or_closes_and_grants_nothing(banner_site, new_page):
    page = open_fixture(new_page(), banner_site, "gating.html")
    page.click("[data-cmp-action=customize]")
    page.locator("[data-cmp-action=back]").wait_for()
    assert page.locator("[data-cmp-action=close]").count() == 0  # over the first layer: back
    page.click("[data-cmp-purpose-toggle=analytics]")  # switched on, then left unsaved
    page.click("[data-cmp-action=back]")
    assert page.locator("#cmp-t").inner_text() == "Your privacy choices"
    assert page.consents == [] and not page.evaluate("window.cmp.hasConsent('analytics')")
    page.click("[data-cmp-action=accept-all]")  # a choice: from now on the settings close
    page.wait_for_function("window.cmp.getConsent().state === 'given'")
    consents = len(page.consents)
    page.click("#settings")
    page.locator("[data-cmp-action=close]").wait_for()
    assert page.locator("[data-cmp-action=back]").count() == 0
    page.click("[data-cmp-purpose-toggle=analytics]")  # switched off, then closed unsaved
    page.click("[data-cmp-action=close]")
    page.locator("#cmp-banner").wait_for(state="hidden")
    assert page.evaluate("window.cmp.getConsent().state") == "given"
    assert page.evaluate("window.cmp.hasConsent('analytics')")
    assert len(page.consents) == consents  # nothing recorded


def test_an_arabic_page_gets_a_mirrored_right_to_left_arabic_banner(banner_site, new_page,
                                                                     artifacts):
    for width in (1280, 390):
        page = open_fixture(new_page(width=width, locale="en-GB", bypass_csp=True), banner_site,
                            "lang.html", lang="ar")
        page.locator("#cmp-banner").wait_for()
        root = page.locator("#cmp-root")
        assert (root.get_attribute("lang"), root.get_attribute("dir")) == ("ar", "rtl")
        assert page.locator("#cmp-t").inner_text() == "خيارات الخصوصية الخاصة بك"
        # mirrored: the first button of the row is on the right
        reject = page.locator("[data-cmp-action=reject-all]").bounding_box()
        accept = page.locator("[data-cmp-action=accept-all]").bounding_box()
        assert reject["x"] > accept["x"] if width > 500 else reject["y"] < accept["y"]
        assert abs(reject["width"] - accept["width"]) < 1 and reject["height"] == accept["height"]
        page.screenshot(path=str(artifacts / f"banner-rtl-{width}.png"))
        page.click("[data-cmp-action=customize]")
        section = page.locator("section[data-p=analytics]")
        assert section.locator("h3").inner_text() == "التحليلات"
        heading = section.locator("h3").bounding_box()
        switch = section.locator("[data-cmp-purpose-toggle=analytics]").bounding_box()
        assert switch["x"] < heading["x"]  # the switch at the end of the line: on the left
        page.screenshot(path=str(artifacts / f"banner-rtl-settings-{width}.png"))
        assert serious_violations(page) == []


def test_a_german_visitor_sees_one_language_whatever_the_site_rewrote(banner_site, new_page):
    banner_site.publish(texts={"en": {"title": "Cookies at the shop", "intro": "We ask first."}})
    page = open_fixture(new_page(locale="de-DE"), banner_site, "lang.html")
    page.locator("#cmp-banner").wait_for()
    assert page.locator("#cmp-root").get_attribute("lang") == "de"
    assert page.locator("#cmp-t").inner_text() == "Ihre Datenschutzauswahl"
    text = page.locator("#cmp-banner").inner_text()
    assert "Cookies at the shop" not in text and "We ask first" not in text
    page.click("[data-cmp-action=customize]")
    page.locator("section h3").first.wait_for()
    assert page.locator("section h3").all_inner_texts()[:3] == [
        "Unbedingt erforderlich (Immer aktiv)", "Präferenzen", "Statistik"]
    text = page.locator("#cmp-banner").inner_text()
    for english in ("Strictly necessary", "Retention", "Accept all", "Always on"):
        assert english not in text


def test_the_settings_open_even_when_their_module_failed_to_load_once(banner_site, new_page):
    page = new_page()
    failed = []

    def fail_once(route):
        if failed:
            return route.continue_()
        failed.append(route.request.url)
        route.abort()
    page.route("**/banner/m/settings.*", fail_once)
    with page.expect_event("requestfailed"):  # fetched as the first layer shows: fails
        open_fixture(page, banner_site, "gating.html")
    page.click("[data-cmp-action=customize]")  # asked again: loaded this time
    page.locator("[data-cmp-purpose-toggle=analytics]").wait_for()
    assert len(failed) == 1
