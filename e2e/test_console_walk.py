"""A marketer's whole path through the console on a fresh server, in Chromium: log in,
create a site with its origin, add three catalogue vendors from the draft, write a Swedish
heading, be refused an unreadable colour pair and keep what was typed, publish after
reading each change, roll back, copy the snippet, see the banner on a page of the site's
origin (axe-core on both of its layers, the visitor's /my-consent/ page and the cookie
declaration), and see a choice in the analytics. Every page is photographed at 1280 and 390 px
(e2e/artifacts/console-walk/) and checked with axe-core: no serious or critical
violation."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from cmp_server.accounts.users import create_user
from e2e.conftest import ARTIFACTS, serious_violations

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "console-walk"
PASSWORD = "a long enough password"


class Walk:
    """The marketer's browser at desktop width, and a phone-width one for the photographs."""

    def __init__(self, browser, base: str):
        self.base = base
        self.desktop = browser.new_context(viewport={"width": 1280, "height": 900},
                                           bypass_csp=True)  # (axe is injected as a script)
        self.desktop.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        self.phone = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        self.page = self.desktop.new_page()
        self.small = self.phone.new_page()
        SHOTS.mkdir(parents=True, exist_ok=True)

    def log_in(self, email: str) -> None:
        for page in (self.page, self.small):
            page.goto(f"{self.base}/console/login")
            page.fill("#email", email)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{self.base}/console/")

    def check(self, name: str) -> None:
        """Photograph the desktop page and the same address on the phone; axe on both."""
        self.small.goto(self.page.url)
        for page, width in ((self.page, 1280), (self.small, 390)):
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
            assert serious_violations(page) == [], (name, width)
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{name} overflows {width} px by {overflow} px"

    def close(self) -> None:
        self.desktop.close()
        self.phone.close()


def open_tab(page, name: str) -> None:
    """One of the site's tabs, once its page has loaded (not the one before it)."""
    with page.expect_navigation():
        page.click(f".tabs >> text={name}")


@pytest.fixture
def walk(browser, live_server):
    walk = Walk(browser, live_server)
    yield walk
    walk.close()


def test_a_marketer_goes_from_nothing_to_a_banner_on_the_site(app, catalogue, live_server, walk):
    create_user({"email": "m@shop.example", "password": PASSWORD, "role": "marketer"})
    walk.log_in("m@shop.example")
    page = walk.page
    walk.check("sites-empty")
    port = live_server.rsplit(":", 1)[1]
    origin = f"http://localhost:{port}"

    # a new site: refused without a name, the rest kept; then created
    page.click("text=New site")
    page.fill("#origins", origin)
    page.fill("#controller_name", "Walk AB")
    page.click("button:has-text('Create site')")
    assert page.inner_text("#name-error") == "This is required."
    assert page.input_value("#origins") == origin and page.input_value("#controller_name") == "Walk AB"
    walk.check("site-new-refused")
    page.fill("#name", "Walk shop")
    page.fill("#controller_address", "Storgatan 1, Stockholm")
    page.fill("#controller_country", "SE")
    page.fill("#controller_email", "privacy@walk.example")
    page.fill("#privacy_policy_url", "https://walk.example/privacy")
    page.click("button:has-text('Create site')")
    page.wait_for_selector("text=The site is created")
    site_key = re.search(r"/sites/([^/]+)/embed", page.url).group(1)
    assert page.locator("#onboarding [data-done=yes]").count() == 1  # the origin
    walk.check("embed-new")

    # three vendors from the catalogue, a Swedish heading
    open_tab(page, "Draft")
    for query, vendor in (("google analytics", "google-analytics"), ("mixpanel", "mixpanel"),
                          ("hotjar ltd", "hotjar")):  # by name, company or purpose
        page.fill("#vendor-search", query)
        page.check(f"#vendor-{vendor}")
    assert page.locator("#draft-vendors tbody tr:visible").count() < 5  # the list narrowed
    page.fill("#vendor-search", "")
    page.click("button:has-text('Save draft')")
    page.wait_for_selector("text=Draft saved")
    page.click("#text-languages >> text=sv")
    page.wait_for_url("**language=sv")  # the Swedish texts have loaded
    assert page.get_attribute("#text-title", "placeholder") == "Dina integritetsval"
    # the preview follows what is typed, before anything is saved
    preview = page.frame_locator("#cmp-preview")
    expect(preview.locator("#cmp-banner h2")).to_have_text("Dina integritetsval")
    page.fill("#text-title", "Välj hur vi får använda kakor")
    expect(preview.locator("#cmp-banner h2")).to_have_text("Välj hur vi får använda kakor")
    page.select_option("#preview-layer", "settings")  # the settings layer, still unsaved
    expect(preview.locator("#cmp-banner h2")).to_have_text("Integritetsinställningar")
    expect(preview.locator("#cmp-banner")).to_contain_text("Hotjar")
    walk.check("draft-live-preview")
    page.select_option("#preview-layer", "first")
    # an unreadable pair is refused beside the field, and what was typed stays
    page.fill("#theme-fg", "#dddddd")
    page.click("button:has-text('Save draft')")
    assert "contrast of 1.4:1" in page.inner_text("#theme-fg-error")
    assert page.input_value("#text-title") == "Välj hur vi får använda kakor"
    assert page.is_checked("#vendor-hotjar")
    walk.check("draft-refused")
    page.fill("#theme-fg", "#1a1a1a")
    page.click("button:has-text('Save draft')")
    page.wait_for_selector("text=Draft saved")
    expect(preview.locator("#cmp-banner h2")).to_have_text("Välj hur vi får använda kakor")
    walk.check("draft")

    # publish after reading each change; then a second version, and back to the first
    page.click("text=Review and publish")
    changes = page.inner_text("#publish-changes")
    for name in ("Google Analytics 4", "Mixpanel", "Hotjar", "Välj hur vi får använda kakor"):
        assert name in changes
    walk.check("publish")
    page.click("button:has-text('Publish')")
    page.wait_for_selector("text=Version 1 is live")
    open_tab(page, "Draft")
    page.click("#text-languages >> text=sv")
    page.wait_for_url("**language=sv")  # the Swedish texts have loaded
    page.fill("#text-title", "Andra rubriken")
    page.click("button:has-text('Save draft')")
    page.wait_for_selector("text=Draft saved")
    page.click("text=Review and publish")
    page.click("button:has-text('Publish')")
    page.wait_for_selector("text=Version 2 is live")
    open_tab(page, "Versions")
    walk.check("versions")
    page.click("#version-1 >> text=Roll back to this version")
    assert "Andra rubriken" in page.inner_text("#rollback-changes")
    walk.check("rollback")
    page.click("button:has-text('Publish version 1')")
    page.wait_for_selector("text=Version 3 is live")

    # the snippet, copied; the banner on a page of the site's origin
    open_tab(page, "Embed")
    page.click("button[data-copy=embed-snippet]")
    page.wait_for_selector("#embed-snippet-status >> text=Copied")
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert f'data-site="{site_key}"' in snippet and snippet.startswith(f'<script src="{live_server}/')
    walk.check("embed")
    visitor = walk.desktop.new_page()
    visitor.goto(f"{origin}/fixture/lang.html?" + urlencode(
        {"CMP": live_server, "SITE": site_key, "lang": "sv"}))
    expect(visitor.locator("#cmp-banner h2")).to_have_text("Välj hur vi får använda kakor")
    assert serious_violations(visitor) == [], "the banner's first layer"
    visitor.click("[data-cmp-action=customize]")
    expect(visitor.locator("#cmp-banner h2")).to_have_text("Integritetsinställningar")
    assert serious_violations(visitor) == [], "the banner's settings layer"
    visitor.screenshot(path=str(SHOTS / "banner-settings-1280.png"))
    visitor.click("[data-cmp-action=accept-all]")
    visitor.wait_for_function("document.cookie.includes('cmp_consent=')")
    # the visitor's own page and the site's cookie declaration
    token = next(c["value"] for c in walk.desktop.cookies() if c["name"] == "cmp_consent")
    visitor.goto(f"{live_server}/my-consent/")
    visitor.fill("textarea[name=token]", token)
    visitor.click("button[type=submit]")
    expect(visitor.locator("main")).to_contain_text("Hotjar")
    assert serious_violations(visitor) == [], "/my-consent/"
    visitor.goto(f"{live_server}/sites/{site_key}/cookies")
    expect(visitor.locator("body")).to_contain_text("cmp_consent")
    assert serious_violations(visitor) == [], "the cookie declaration"
    visitor.close()

    # the choice in the analytics; the checklist now sees the banner on the site
    open_tab(page, "Analytics")
    assert re.search(r"Choices\s+1\b", page.inner_text("#analytics-table"))
    walk.check("analytics")
    open_tab(page, "Embed")
    assert page.locator("#onboarding [data-done=no]").count() == 1  # only the scan is left
    assert page.get_attribute(f'#embed-origins tr[data-origin="{origin}"]', "data-seen") == "yes"
    for name, path in (("sites", "/console/"), ("catalogue", "/console/catalogue"),
                       ("vendor-new", "/console/vendors/new"), ("tokens", "/console/tokens"),
                       ("settings", f"/console/sites/{site_key}/settings")):
        page.goto(walk.base + path)
        walk.check(name)
