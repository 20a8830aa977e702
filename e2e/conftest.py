"""Browser tests: a real server started the way the README starts it, and Debian's
Chromium driven by Playwright (Playwright cannot download its own browsers here)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.server import free_port

ROOT = Path(__file__).resolve().parent.parent
# (the session's Chromium, ``browser`` and ``page``, is in the top-level conftest.py)


class RunningServer:
    def __init__(self, process: subprocess.Popen, port: int, output: list[str]):
        self.process, self.port, self.output = process, port, output
        self.url = f"http://127.0.0.1:{port}"

    def line(self, prefix: str) -> str:
        return next(l for l in self.output if l.startswith(prefix))


@pytest.fixture(scope="session")
def make_run(tmp_path_factory):
    """`make run` exactly as a newcomer types it, on a free port with its own instance
    folder; stopped (whole process group) at the end of the session."""
    instance = tmp_path_factory.mktemp("make-run-instance")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "CMP_INSTANCE_PATH": str(instance)}
    env.pop("CMP_DATABASE_URL", None)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    output: list[str] = []
    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    deadline = time.monotonic() + 180
    try:
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if re.search(r"Listening at: http://127\.0\.0\.1:\d+", line):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("make run did not start in 180 s")
        else:
            raise RuntimeError("make run stopped:\n" + "\n".join(output))
        # keep reading, so the server never blocks on a full pipe (its access log)
        drain.start()
        yield RunningServer(process, port, output)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if drain.is_alive():
            drain.join(timeout=10)
        process.stdout.close()


# --- the banner against a live app (tests/conftest.py's fixtures, on SQLite only) -------

from flask import Blueprint, Response, abort  # noqa: E402

from tests.conftest import (  # noqa: E402,F401  (fixtures re-used by the banner tests)
    SHOP, catalogue, client, database_url, instance_path, live_server, make_app, shop,
    sqlite_template,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE = Path(__file__).resolve().parent.parent / "static" / "banner" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = """() => axe.run({resultTypes: ['violations']}).then(result => result.violations
    .filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`))"""


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page, open shadow roots (the
    banner's) included. The page's context needs bypass_csp: axe goes in as a script."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(SERIOUS)
BANNER_VENDORS = [("craft-cms", None), ("google-analytics", None), ("mixpanel", None),
                  ("facebook", None), ("youtube", None)]


@pytest.fixture
def engine_name() -> str:
    """Browser tests run on SQLite: the engines are covered by tests/."""
    return "sqlite"


fixture_pages = Blueprint("e2e_fixtures", __name__)


@fixture_pages.get("/fixture/<name>")
def fixture_page(name: str):
    """e2e/fixtures/NAME with {{CMP}} (the tag's origin, 127.0.0.1) and {{SITE}} filled in
    from the query string; pages are opened on localhost, so the tag is cross-origin."""
    from flask import request

    path = FIXTURES / name
    if not path.is_file() or path.parent != FIXTURES:
        abort(404)
    body = path.read_text("utf-8")
    for key, value in request.args.items():
        body = body.replace("{{" + key + "}}", value)
    return Response(body, mimetype="text/html")


@fixture_pages.get("/fixture-redirect")
def fixture_redirect():
    """A redirect to wherever ?to= says (the scanner's guard checks every hop)."""
    from flask import redirect, request

    return redirect(request.args["to"])


@fixture_pages.get("/js/<name>")
def first_party_script(name: str):
    """A first-party script that records that it ran (window.__ran)."""
    return Response(f"(window.__ran = window.__ran || []).push({json.dumps(name)});",
                    mimetype="text/javascript")


@pytest.fixture
def app(database_url, instance_path):
    """tests/conftest.py's app, plus the fixture pages."""
    app = make_app(database_url, instance_path)
    app.register_blueprint(fixture_pages)
    with app.app_context():
        yield app
        from cmp_server.platform.extensions import db

        db.session.remove()
        db.engine.dispose()


class BannerSite:
    """A site whose origins are the live server's two names, with a published version.
    Pages from ``page_origin`` (localhost) load the tag from ``cmp`` (127.0.0.1), so
    every call the banner makes is cross-origin, as on a customer's site."""

    def __init__(self, live_server: str, site, version):
        self.cmp = live_server
        self.port = int(live_server.rsplit(":", 1)[1])
        self.page_origin = f"http://localhost:{self.port}"
        self.site, self.version, self.key = site, version, site.key

    def fixture_url(self, name: str, origin: str | None = None, **params: str) -> str:
        from urllib.parse import urlencode

        query = urlencode({"CMP": self.cmp, "SITE": self.key, **params})
        return f"{origin or self.page_origin}/fixture/{name}?{query}"

    def publish(self, vendors=None, **draft):
        """Change the draft (vendors, region_rules, theme, texts) and publish it."""
        from cmp_server.sites import versions
        from cmp_server.platform.extensions import db

        if vendors is not None:
            versions.set_draft_vendors(self.site, vendors)
        for field, value in draft.items():
            setattr(self.site.draft, field, value)
        db.session.commit()
        self.version, _ = versions.publish(self.site)
        return self.version


@pytest.fixture
def banner_site(app, catalogue, live_server) -> BannerSite:
    from cmp_server.sites import versions
    from cmp_server.sites.registry import create_site

    port = live_server.rsplit(":", 1)[1]
    site = create_site({**SHOP, "name": "Banner test shop",
                        "origins": [live_server, f"http://localhost:{port}",
                                    f"http://www.shop.localhost:{port}"]})
    versions.set_draft_vendors(site, BANNER_VENDORS)
    version, _ = versions.publish(site)
    return BannerSite(live_server, site, version)


def third_parties(page) -> None:
    """Third-party hosts the fixture pages load from answer (through page.route: this
    machine has no route out) with a script that records that it ran (window.__ran)."""

    def script_route(route):
        url = route.request.url
        route.fulfill(status=200, content_type="text/javascript",
                      body=f"(window.__ran = window.__ran || []).push({json.dumps(url)});")

    for host in ("cdn.mxpnl.com", "connect.facebook.net", "www.googletagmanager.com",
                 "cdn.example.org"):
        page.route(f"https://{host}/**", script_route)
    page.route("https://api-js.mixpanel.com/**", lambda route: route.abort())


@pytest.fixture
def new_page(browser):
    """Pages in contexts of their own: new_page(width=360, locale="fr-FR", ...)."""
    contexts = []

    def make(width: int = 1280, height: int = 800, **options):
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- helpers for the banner tests ----------------------------------------------------------

ACTIVE = """() => {
  const a = document.getElementById("cmp-root")?.shadowRoot?.activeElement;
  return a && (a.getAttribute("data-cmp-action") || a.getAttribute("data-cmp-purpose-toggle")
    || a.getAttribute("data-cmp-vendor-toggle") || a.id || a.tagName.toLowerCase());
}"""


def open_fixture(page, banner_site: BannerSite, name: str, origin: str | None = None,
                 **params: str):
    """Open a fixture page and collect the consents it posts (page.consents)."""
    third_parties(page)
    page.consents = []
    page.on("request", lambda request: page.consents.append(request.post_data_json)
            if request.method == "POST" and request.url.endswith("/api/v1/consents") else None)
    page.goto(banner_site.fixture_url(name, origin, **params))
    return page


def active(page) -> str | None:
    """What has focus inside the banner: its action, toggle id or element id."""
    return page.evaluate(ACTIVE)


def ran(page) -> list[str]:
    return page.evaluate("window.__ran || []")


# Waits before asserting that something did not happen: each waits for an event after
# which it would have happened, never for a fixed time (which passes when the code is
# merely slow).

def settled(page) -> None:
    """Until the page has run what is already queued: MutationObserver callbacks and
    promise reactions (the banner's scan, its release of inline scripts) are microtasks,
    all run before the next task starts."""
    page.evaluate("() => new Promise(done => setTimeout(done))")


def released(page, purpose: str = "necessary") -> None:
    """Until every script the banner has released so far has run. It runs them one after
    the other in document order, so a script of a granted ``purpose`` appended now runs
    after all of them."""
    page.evaluate("""purpose => new Promise(done => {
        window.__releasedMarker = done;
        const marker = document.createElement('script');
        marker.type = 'text/plain';
        marker.setAttribute('data-cmp-purpose', purpose);
        marker.text = 'window.__releasedMarker()';
        document.body.append(marker);
    })""", purpose)


def decided(page) -> None:
    """Until the banner has the configuration and has decided whether to ask: it mounts
    #cmp-root and shows the dialog, or not, in the same task."""
    page.locator("#cmp-root").wait_for(state="attached")


def wait_recorded(page) -> None:
    """Until the server has acknowledged the choice (the cookie holds its receipt) and
    the banner has announced it (cmp:consent)."""
    page.wait_for_function(
        "!localStorage.getItem('cmp_pending') && document.cookie.includes('cmp_consent=')"
        " && window.cmp.getConsent().receipt_id")
    settled(page)


def cookie_names(page) -> set[str]:
    return {c["name"] for c in page.context.cookies()}
