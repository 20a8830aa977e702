"""A marketer who has never seen the product puts a new vendor in front of visitors, from
the console alone, on the server `make run` started."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser


def test_log_in_add_a_vendor_translate_preview_publish_and_see_it_on_the_demo(make_run, page):
    email, password = make_run.line("admin:").split()[1], make_run.line("admin:").split()[3]
    page.goto(f"{make_run.url}/console/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.click("text=Draft")
    page.check("#vendor-hotjar")
    page.click("text=Save draft")
    page.wait_for_selector("text=Draft saved")
    page.click("#draft-form >> text=sv")
    page.fill("input[name=text-title]", "Dina integritetsval")
    page.click("text=Save draft")
    page.wait_for_selector("text=Draft saved")
    # the preview shows the saved draft's banner, Hotjar in its settings
    preview = page.frame_locator("#cmp-preview")
    assert preview.locator("#cmp-banner h2").inner_text() == "Dina integritetsval"
    preview.locator("[data-cmp-action=customize]").dispatch_event("click")
    preview.locator("#cmp-banner.l2").wait_for()
    assert preview.locator("#cmp-banner >> text=Hotjar").count() >= 1
    page.click("text=Review and publish")
    assert "Hotjar" in page.inner_text("#publish-changes")
    assert page.inner_text("#asks-again").startswith("yes")
    page.click("button:has-text('Publish')")
    page.wait_for_selector("text=is live")
    # a new visitor's banner asks with the new vendor (gunicorn workers reread the newest
    # version within CMP_CACHE_SECONDS; a browser may reuse a configuration for 60 s, so
    # each try is a new visitor)
    deadline = time.monotonic() + 15
    while True:
        visitor = page.context.browser.new_context().new_page()
        visitor.goto(f"{make_run.url}/demo/")
        visitor.click("#cmp-banner [data-cmp-action=customize]")
        visitor.locator("#cmp-banner.l2").wait_for()
        found = visitor.locator("#cmp-banner >> text=Hotjar").count()
        visitor.context.close()
        if found or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert found >= 1
