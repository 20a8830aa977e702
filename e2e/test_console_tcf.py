"""A marketer turns IAB TCF on in the console, as they would, in Chromium at 1280 and 390
px: the TCF tab says which GVL is stored, they find vendors by name, tick them, add a
Google provider, save, publish, and the site's banner speaks __tcfapi with those vendors
disclosed. Another workspace's marketer cannot open the page."""
from __future__ import annotations

import pytest

from cmp_server.accounts.users import create_user
from e2e.conftest import open_fixture
from e2e.test_console_walk import PASSWORD, Walk, open_tab
from tests.support.gvl import gvl_document
from tests.support.iab import decode_tc

pytestmark = pytest.mark.browser


def test_a_marketer_turns_tcf_on_and_the_banner_discloses_the_vendors(
        app, banner_site, browser, live_server, new_page):
    from cmp_server.sites import gvl

    gvl.store_gvl(gvl_document(version=12, vendors=[1, 2, 8, 10, 21, 755]), {})
    app.config["CMP_TCF_CMP_ID"] = 300
    create_user({"email": "m@shop.example", "password": PASSWORD, "role": "marketer"})
    walk = Walk(browser, live_server)
    try:
        walk.log_in("m@shop.example")
        page = walk.page
        page.goto(f"{live_server}/console/sites/{banner_site.key}/draft")
        open_tab(page, "IAB TCF")
        assert "Version 12" in page.locator("#gvl-version").inner_text()
        page.check("#tcf-enabled")
        page.fill("#tcf-vendor-search", "Google")
        assert page.locator("label[for=gvl-vendor-755]").is_visible()
        assert page.locator("label[for=gvl-vendor-2]").is_hidden()
        page.check("#gvl-vendor-755")
        page.fill("#tcf-vendor-search", "")
        page.check("#gvl-vendor-21")
        page.fill("textarea", "89, Example ATP, https://atp.example/privacy")
        walk.check("tcf-before-save")
        with page.expect_navigation():
            page.click("#tcf-form button[type=submit]")
        assert "Saved in the draft" in page.content()
        walk.check("tcf-saved")
        with page.expect_navigation():
            page.click("text=Review and publish")
        with page.expect_navigation():
            page.click("button:text-is(\"Publish\")")
    finally:
        walk.close()

    visitor = new_page()
    open_fixture(visitor, banner_site, "tcf.html", FRAME_JSON='"about:blank"',
                 STUB_SRC=f"{banner_site.cmp}/banner/tcf-stub.js")
    visitor.locator("#cmp-banner").wait_for()
    visitor.click("[data-cmp-action=accept-all]")
    visitor.wait_for_function("() => window.__events.some(e => e.status == 'useractioncomplete')")
    string = visitor.evaluate("() => new Promise(cb => __tcfapi('getTCData', 2, d => cb(d.tcString)))")
    assert decode_tc(string)["vendors_disclosed"] == [21, 755]
    assert visitor.evaluate("() => new Promise(cb => __tcfapi('getTCData', 2, d => cb(d.addtlConsent)))") == "2~89~dv."
