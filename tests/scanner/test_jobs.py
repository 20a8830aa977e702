"""The site scanner in the console: a marketer starts a scan of a site's origins, it runs in
the background, and the site keeps its latest report; the start is audited. The browser is
replaced here by canned observations (e2e/test_scanner.py drives the real one)."""
from __future__ import annotations

import threading
import time

import pytest

from cmp_server.scanner import browser
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, SiteScan
from tests.accounts.test_auth import csrf, log_in
from tests.accounts.test_auth import people  # noqa: F401  (a fixture, used by name)


@pytest.fixture
def marketer(app, people, shop):
    return log_in(app.test_client(), "marketer")


class FakeBrowser:
    """Stands in for browser.scan: answers canned observations, one per scan; a scan can be
    held until the test releases it, or fail."""

    def __init__(self):
        self.cookies: list[str] = ["_fbp"]
        self.release = threading.Event()
        self.release.set()
        self.fail = False
        self.calls: list[tuple] = []

    def __call__(self, urls, options, progress=None, **_kwargs):
        self.calls.append((urls, options.depth, options.max_pages))
        assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("Chromium crashed")
        cookies = [{"type": "cookie", "name": name, "domain": "shop.example", "path": "/",
                    "expires": None, "host": "shop.example", "third_party": False,
                    "page": urls[0]} for name in self.cookies]
        return {"started_at": "2026-11-24T10:00:00+00:00", "finished_at": "2026-11-24T10:00:09+00:00",
                "urls": urls, "depth": options.depth, "max_pages": options.max_pages,
                "pages": urls, "errors": [],
                "banners": [{"url": urls[0], "found": True, "site_key": None, "cmp_origin": None}],
                "passes": {"before": {"cookies": cookies, "storage": [], "requests": []}}}


@pytest.fixture
def fake_browser(monkeypatch):
    fake = FakeBrowser()
    monkeypatch.setattr(browser, "scan", fake)
    return fake


def finished_page(client, url: str) -> str:
    """The scan page once the background scan is over."""
    deadline = time.monotonic() + 20
    while True:
        db.session.expire_all()
        page = client.get(url).get_data(as_text=True)
        if 'id="scan-running"' not in page:
            return page
        assert time.monotonic() < deadline, "the scan did not finish"
        time.sleep(0.05)


def test_a_marketer_starts_a_scan_and_reads_the_latest_report(marketer, shop, fake_browser):
    site, _ = shop
    url = f"/console/sites/{site.key}/scan"
    first = marketer.get(url).get_data(as_text=True)
    assert 'id="no-report"' in first and 'id="scan-form"' in first
    assert marketer.get(url + ".json").status_code == 404
    assert f'href="{url}"' in marketer.get("/console/").get_data(as_text=True)

    started = marketer.post(url, data={"csrf_token": csrf(marketer), "urls": "",
                                       "depth": "2", "max_pages": "20"})
    assert started.status_code == 302 and started.location == url
    page = finished_page(marketer, url)
    assert fake_browser.calls == [(["https://shop.example/"], 2, 20)]  # the site's origins
    assert 'id="scan-report"' in page and 'id="vendor-facebook"' in page
    assert "before consent</strong>:\n        cookie _fbp on shop.example/" in page
    assert 'id="vendor-google-analytics"' in page and "configured on the site but never seen" in page
    assert marketer.get(url + ".json").json["summary"]["before_consent"] == 1
    event = db.session.query(AuditEvent).filter_by(action="scan.start").one()
    assert (event.actor, event.entity_id) == ("marketer@shop.example", site.key)
    assert event.after == {"urls": ["https://shop.example/"], "depth": 2, "max_pages": 20}

    # the next scan replaces the report: one row per site
    fake_browser.cookies = []
    marketer.post(url, data={"csrf_token": csrf(marketer), "urls": "https://shop.example/a\n",
                             "depth": "0", "max_pages": "1"})
    page = finished_page(marketer, url)
    assert "cookie _fbp" not in page
    assert db.session.query(SiteScan).count() == 1
    assert marketer.get(url + ".json").json["urls"] == ["https://shop.example/a"]


def test_one_scan_at_a_time_and_a_failure_is_shown(marketer, shop, fake_browser):
    site, _ = shop
    url = f"/console/sites/{site.key}/scan"
    fake_browser.release.clear()
    marketer.post(url, data={"csrf_token": csrf(marketer), "depth": "1", "max_pages": "5"})
    db.session.expire_all()
    assert 'id="scan-running"' in marketer.get(url).get_data(as_text=True)
    again = marketer.post(url, data={"csrf_token": csrf(marketer), "depth": "1", "max_pages": "5"})
    assert again.status_code == 422 and "already running" in again.get_data(as_text=True)
    fake_browser.fail = True
    fake_browser.release.set()
    page = finished_page(marketer, url)
    assert 'id="scan-failed"' in page and "RuntimeError: Chromium crashed" in page
    assert len(fake_browser.calls) == 1


@pytest.mark.parametrize("form, message", [
    ({"urls": "https://elsewhere.example/"}, "not on one of the site&#39;s origins"),
    ({"urls": "javascript:alert(1)"}, "not an http or https URL"),
    ({"depth": "9"}, "must be a whole number from 0 to 3"),
    ({"max_pages": "0"}, "must be a whole number from 1 to 50"),
])
def test_bad_input_is_refused_and_starts_nothing(marketer, shop, fake_browser, form, message):
    site, _ = shop
    answer = marketer.post(f"/console/sites/{site.key}/scan",
                           data={"csrf_token": csrf(marketer), "depth": "1", "max_pages": "5", **form})
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    assert fake_browser.calls == [] and db.session.query(SiteScan).count() == 0
    assert db.session.query(AuditEvent).filter_by(action="scan.start").count() == 0


def test_other_roles_and_anonymous_callers_are_kept_out(app, marketer, shop, fake_browser):
    site, _ = shop
    url = f"/console/sites/{site.key}/scan"
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/console/login" in anonymous.location
    compliance = log_in(app.test_client(), "compliance")
    assert compliance.get(url).status_code == 403
    assert compliance.get(url + ".json").status_code == 403
    assert compliance.post(url, data={"csrf_token": csrf(compliance)}).status_code == 403
    assert marketer.post(url, data={"depth": "1", "max_pages": "5"}).status_code == 400  # no CSRF
    assert fake_browser.calls == []


def test_the_server_runs_at_most_so_many_scans_at_once(app, marketer, shop, fake_browser):
    """CMP_SCAN_MAX_RUNNING counts the scans of every worker and host (the database's
    rows), not this worker's: another site's scan, running elsewhere, fills the place."""
    from cmp_server.sites.registry import create_site
    from tests.conftest import SHOP

    app.config["CMP_SCAN_MAX_RUNNING"] = 1
    other = create_site({**SHOP, "name": "Elsewhere"})
    db.session.add(SiteScan(site_id=other.id, status="running", started_by="another worker",
                            urls=["https://shop.example/"]))
    db.session.commit()
    site, _ = shop
    url = f"/console/sites/{site.key}/scan"
    refused = marketer.post(url, data={"csrf_token": csrf(marketer), "depth": "0", "max_pages": "1"})
    assert refused.status_code == 422
    assert "1 scan(s) are running on this server" in refused.get_data(as_text=True)
    assert fake_browser.calls == [] and db.session.get(SiteScan, site.id) is None
    db.session.get(SiteScan, other.id).status = "done"
    db.session.commit()
    started = marketer.post(url, data={"csrf_token": csrf(marketer), "depth": "0", "max_pages": "1"})
    assert started.status_code == 302
    finished_page(marketer, url)
    assert len(fake_browser.calls) == 1
