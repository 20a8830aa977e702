"""The site scanner in Debian's Chromium, against fixture sites served on loopback: a compliant
page, a tracker before consent, a cookie set again after rejection, a tracker nobody
catalogued, a page without the banner, and the demo page; then the CLI (text and JSON) and
a scan started from the console, both on their own Chromium as in production.

Pages are opened on localhost and load the tag from 127.0.0.1 (e2e/conftest.py's
BannerSite); Facebook's host is answered through Playwright routing (no route out of this
machine), the uncatalogued tracker's through *.localhost, which Chromium resolves to
loopback itself."""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
import tomllib

import pytest
from flask import request

from cmp_server.scanner import jobs
from cmp_server.sites.catalogue import VendorSchema
from cmp_server.demo import default_origins, ensure_demo
from cmp_server.platform.extensions import db
from cmp_server.models import AuditEvent, SiteScan
from cmp_server.scanner.report import render_text
from cmp_server.scanner.browser import ScanOptions
from e2e.conftest import ROOT
from tests.conftest import TEST_SECRET_KEYS, console_login

pytestmark = pytest.mark.browser

FAST = ScanOptions(depth=1, max_pages=5, settle_ms=300)
FBEVENTS = ('document.cookie = "_fbp=fb.1." + Date.now() + ".7; Max-Age=7776000; Path=/";'
            '(window.__ran = window.__ran || []).push("fbevents");')


def fake_third_parties(context) -> None:
    """Facebook's pixel sets its first-party _fbp cookie, as fbevents.js does; Mixpanel's API
    is unreachable (the request is still made, and seen)."""
    context.route("https://connect.facebook.net/**", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=FBEVENTS))
    context.route("https://api-js.mixpanel.com/**", lambda route: route.abort())


def tracker_origin(banner_site) -> str:
    return f"http://pixel.xq-tracker.localhost:{banner_site.port}"


def scan_fixture(banner_site, browser, name: str) -> dict:
    url = banner_site.fixture_url(name, TRACKER=tracker_origin(banner_site))
    return jobs.run_scan([url], FAST, banner_site.site, browser=browser,
                          prepare_context=fake_third_parties)


def vendor(report: dict, vendor_id: str) -> dict:
    return next(v for v in report["vendors"] if v["id"] == vendor_id)


def findings(report: dict, vendor_id: str) -> dict[str, list]:
    return {f["kind"]: f["items"] for f in vendor(report, vendor_id)["findings"]}


def consent_findings(report: dict) -> list[tuple[str, str]]:
    return [(v["id"], f["kind"]) for v in report["vendors"] for f in v["findings"]
            if f["kind"] in ("before_consent", "after_rejection", "after_withdrawal")]


def test_a_compliant_page_has_no_consent_finding(banner_site, browser):
    report = scan_fixture(banner_site, browser, "scan-compliant.html")
    assert [b["found"] for b in report["banners"]] == [True]
    assert report["passes"] == ["before", "reject", "accept", "withdraw"]
    assert len(report["pages"]) == 2 and report["pages"][1].startswith(
        banner_site.page_origin + "/fixture/scan-compliant-2.html")
    assert report["errors"] == []
    assert consent_findings(report) == []
    facebook = vendor(report, "facebook")
    by_type = {item["type"]: item for item in facebook["items"]}
    assert by_type["request"]["host"] == "connect.facebook.net"
    assert by_type["request"]["passes"] == ["accept"]  # the withdrawal pass accepts first,
    assert by_type["cookie"]["passes"] == ["accept"]   # but only what follows it counts there
    assert report["unknown"] == []


def test_a_tracker_before_consent(banner_site, browser):
    report = scan_fixture(banner_site, browser, "scan-tracker.html")
    found = findings(report, "facebook")
    assert {item["type"] for item in found["before_consent"]} == {"request", "cookie"}
    # the unheld pixel is requested again on every page after Reject all (the banner deletes
    # the _fbp it writes on each page view, so only the request is left to see)
    [request] = found["after_rejection"]
    assert (request["host"], request["resource_types"]) == ("connect.facebook.net", ["script"])
    assert "after_withdrawal" in found
    text = render_text(report)
    assert "! before consent: requests to connect.facebook.net (script)" in text
    assert "! after Reject all: requests to connect.facebook.net (script)" in text


def test_a_cookie_set_again_after_rejection(banner_site, browser):
    report = scan_fixture(banner_site, browser, "scan-reset.html")
    found = findings(report, "facebook")
    assert "before_consent" not in found
    [fbp] = found["after_rejection"]
    assert (fbp["name"], fbp["after_choice"]["reject"]) == ("_fbp", "set")
    assert found["after_withdrawal"][0]["after_choice"]["withdraw"] == "set"
    assert "set after the choice" in render_text(report)


def test_an_unknown_tracker_comes_with_a_proposed_catalogue_entry(banner_site, browser):
    report = scan_fixture(banner_site, browser, "scan-unknown.html")
    groups = {g["owner"]: g for g in report["unknown"]}
    assert set(groups) == {"first party", "xq-tracker.localhost"}
    [uid] = groups["first party"]["items"]
    assert uid["name"] == "_xq_uid" and uid["passes"] == ["before", "reject", "accept", "withdraw"]
    pixel = tomllib.loads(groups["xq-tracker.localhost"]["proposal"])
    assert pixel["hosts"] == ["pixel.xq-tracker.localhost"]
    cookie = tomllib.loads(groups["first party"]["proposal"])["cookies"][0]
    assert (cookie["name"], cookie["domain"], cookie["lifetime"]) == ("_xq_uid", "first_party", 30)
    for group in groups.values():  # once its TODOs are filled in, the catalogue takes it
        VendorSchema().load(tomllib.loads(group["proposal"].replace("TODO", "Filled in")))
    assert "proposed catalogue entry:" in render_text(report)


def test_a_page_without_the_banner_gets_the_first_pass_only(banner_site, browser):
    report = scan_fixture(banner_site, browser, "scan-plain.html")
    assert [b["found"] for b in report["banners"]] == [False]
    assert report["passes"] == ["before"]
    assert [i["name"] for i in vendor(report, "google-analytics")["items"]] == ["_ga"]
    assert "not found; only the first pass (no choice) was made" in render_text(report)


def test_the_demo_page(app, catalogue, live_server, browser):
    port = int(live_server.rsplit(":", 1)[1])
    demo = ensure_demo(default_origins(port), app.instance_path)
    report = jobs.run_scan([f"{live_server}/demo/"], FAST, browser=browser,
                            prepare_context=fake_third_parties)
    assert report["site"] == demo.site.key  # found through the banner's data-site
    found = {(v, k) for v, k in consent_findings(report) if k != "after_withdrawal"}
    assert found == set()  # Mixpanel's SDK may still flush a queued event after withdrawal
    mixpanel = vendor(report, "mixpanel")
    cookie = next(i for i in mixpanel["items"] if i["type"] == "cookie")
    assert cookie["name"] == "mp_demo-project-token_mixpanel" and "before" not in cookie["passes"]
    assert "accept" in cookie["passes"]
    never_seen = {v["id"] for v in report["vendors"] if "never_seen" in findings(report, v["id"])}
    assert {"google-analytics", "piwik-pro", "hubspot", "facebook"} <= never_seen
    assert "mixpanel" not in never_seen
    assert "Google Analytics 4 (google-analytics): needs consent, configured\n" \
           "  ! configured on the site but never seen" in render_text(report)


def test_the_cli_prints_the_report_writes_json_and_keeps_it_for_the_site(
        banner_site, database_url, instance_path, tmp_path):
    out = tmp_path / "report.json"
    urls = [banner_site.fixture_url(name, TRACKER=tracker_origin(banner_site))
            for name in ("scan-reset.html", "scan-unknown.html")]
    env = {**os.environ, "CMP_DATABASE_URL": database_url, "CMP_INSTANCE_PATH": str(instance_path),
           "CMP_SECRET_KEYS": ",".join(TEST_SECRET_KEYS)}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "cmp_server", "cmp", "scan", *urls, "--depth", "0",
         "--wait", "300", "--site", banner_site.key, "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"before any choice: {urls[0]}" in done.stderr  # progress
    assert f"Site {banner_site.key}, published version 1" in done.stdout
    assert "Facebook / Meta Pixel (facebook): needs consent, configured" in done.stdout
    assert "! after Reject all: cookie _fbp" in done.stdout
    assert "? cookie _xq_uid" in done.stdout and '      id = "unknown-first-party"' in done.stdout
    report = json.loads(out.read_text())
    assert report["urls"] == urls and report["site"] == banner_site.key
    assert report["summary"]["after_rejection"] == 1 and report["summary"]["unknown"] == 2
    db.session.expire_all()
    kept = db.session.get(SiteScan, banner_site.site.id)
    assert kept.status == "done" and kept.report == report and kept.started_by == "cli"
    assert db.session.query(AuditEvent).filter_by(action="scan.start", actor="cli").count() == 1


def console_scan(app, banner_site, client, page_url: str) -> str:
    """A marketer starts a scan of ``page_url`` in the console; the finished page."""
    from cmp_server.accounts.users import create_user

    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": "a long enough password",
                 "role": "marketer"})
    console_login(client, "m@shop.example", "a long enough password")
    with client.session_transaction() as session:
        token = session["csrf"]
    started = client.post(f"/console/sites/{banner_site.key}/scan", data={
        "csrf_token": token, "urls": page_url, "depth": "0", "max_pages": "1"})
    assert started.status_code == 302
    deadline = time.monotonic() + 120
    while "scan-running" in (page := client.get(started.location).get_data(as_text=True)):
        assert time.monotonic() < deadline, "the scan did not finish in 120 s"
        time.sleep(0.5)
    assert 'id="scan-report"' in page, page
    return page


LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def test_a_marketer_scans_from_the_console(app, banner_site, client):
    app.config["CMP_SCAN_ALLOW_NETWORKS"] = LOOPBACK  # the fixture site is on this machine
    page_url = banner_site.fixture_url("scan-unknown.html", TRACKER=tracker_origin(banner_site))
    page = console_scan(app, banner_site, client, page_url)
    assert "_xq_uid" in page
    assert 'id = &#34;unknown-first-party&#34;' in page
    # reports keep hosts and paths, never query strings
    assert client.get(f"/console/sites/{banner_site.key}/scan.json").json["pages"] == [
        page_url.split("?")[0]]


def test_a_console_scan_never_reaches_this_servers_network(app, banner_site, client):
    """localhost is a name that resolves to loopback: refused before any connection, and
    said in the report; and the server's own pages were never fetched by the scan."""
    served = []
    app.before_request(lambda: served.append(request.path) if request.path.startswith(
        "/fixture/") else None)
    page_url = banner_site.fixture_url("scan-unknown.html", TRACKER=tracker_origin(banner_site))
    page = console_scan(app, banner_site, client, page_url)
    assert "refused: localhost: resolves to 127.0.0.1" in page
    assert "_xq_uid" not in page
    assert served == []


def test_a_redirect_into_a_private_network_is_refused(app, banner_site, client):
    app.config["CMP_SCAN_ALLOW_NETWORKS"] = LOOPBACK
    page_url = f"{banner_site.page_origin}/fixture-redirect?to=http://10.20.30.40/admin"
    page = console_scan(app, banner_site, client, page_url)
    assert "refused: 10.20.30.40: resolves to 10.20.30.40" in page


def test_the_scanners_chromium_runs_sandboxed():
    """Chromium refuses its sandbox to root; the scanner's browser runs as "nobody" when
    this runs as root, with the namespace and seccomp sandboxes on (Chromium's own
    chrome://sandbox report). In a thread of its own, as console scans run: the session's
    Playwright owns this one."""
    from concurrent.futures import ThreadPoolExecutor

    from cmp_server.scanner.browser import chromium

    def sandbox_status() -> str:
        with chromium(None) as browser:
            page = browser.new_page()
            page.goto("chrome://sandbox")
            return page.inner_text("body")

    with ThreadPoolExecutor(1) as pool:
        status = pool.submit(sandbox_status).result(timeout=60)
    assert "You are adequately sandboxed." in status, status
    assert "Seccomp-BPF sandbox\tYes" in status
