"""`make run` leaves a running server with the catalogue and the demo site, and the demo
page shows the published configuration in a real browser."""
from __future__ import annotations

import json
import urllib.request

from cmp_server.sites.catalogue import load_catalogue
from cmp_server.platform.settings import default_vendors_dir

pytestmark = __import__("pytest").mark.browser


def test_make_run_prints_the_demo_page_and_the_admin_login(make_run):
    demo_line = make_run.line("demo page:")
    assert demo_line == f"demo page:  http://127.0.0.1:{make_run.port}/demo/"
    admin_line = make_run.line("admin:")
    assert admin_line.startswith("admin:      admin@demo.example / ")
    assert len(admin_line.rsplit(" ", 1)[1]) >= 16
    shipped = len(load_catalogue(default_vendors_dir()).vendors)
    assert f"{shipped + 4} added, 0 changed, 0 unchanged, 0 file(s) refused" in make_run.output


def test_the_server_answers_health_checks(make_run):
    with urllib.request.urlopen(f"{make_run.url}/healthz", timeout=5) as response:
        assert json.load(response) == {"status": "ok"}


def test_the_demo_page_shows_the_published_vendors_and_the_embed_snippet(make_run, page):
    site_key = make_run.output[make_run.output.index(make_run.line("admin:")) + 1]
    page.goto(f"{make_run.url}/demo/")
    assert page.title() == "Demo shop: consent platform demo"
    assert page.locator("#site-key").inner_text() == site_key
    vendors = page.locator("#vendors tbody tr").all_inner_texts()
    assert any(row.startswith("Piwik PRO") and "25 months (enterprise tier)" in row for row in vendors)
    assert any(row.startswith("Google Analytics") for row in vendors)
    snippet = page.locator("#embed-snippet").inner_text()
    assert snippet == (
        f'<script src="{make_run.url}/banner/cmp.js" data-site="{site_key}" async></script>'
    )


def test_no_gated_tag_runs_before_consent(make_run, page):
    """Fail closed: whatever the banner's state, a tag held back as text/plain never runs
    until its vendor is granted."""
    page.goto(f"{make_run.url}/demo/")
    page.wait_for_load_state("networkidle")
    assert page.locator("script[data-cmp-vendor]").count() >= 5
    assert page.locator("#tags-that-ran li").count() == 0


def test_the_access_log_records_no_client_address(make_run):
    import re

    with urllib.request.urlopen(f"{make_run.url}/healthz?probe=access-log", timeout=5):
        pass
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("probe=access-log" in l for l in make_run.output):
        time.sleep(0.1)
    lines = [l for l in make_run.output if "probe=access-log" in l]
    assert lines, "the request was not logged"
    assert not any(re.search(r"\b127\.0\.0\.1\b", l) for l in lines), lines
