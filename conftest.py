"""Fixtures every test directory shares (tests/, e2e/, stress/): one Chromium for the
whole session. Playwright's sync API allows one running instance per thread, so e2e/ and
stress/ cannot each start their own when one `make test` runs both."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from cmp_server.scanner.browser import CHROMIUM, CHROMIUM_FLAGS


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
