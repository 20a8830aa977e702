"""Hostile input: the banner on a host page whose Content-Security-Policy has no
'unsafe-inline' anywhere, in Chromium. Two policies: scripts and styles by nonce, and the
stricter one where style-src has no nonce either (only 'self' and the CMP's origin). On
both the banner shows its two layers, styled and without moving the page, records a
choice (201), releases the gated scripts with the page's nonce, and the page reports no
`securitypolicyviolation` at all."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask import Blueprint, Response

from e2e.conftest import banner_site, engine_name  # noqa: F401  (the banner's site, SQLite)

pytestmark = pytest.mark.stress
NONCE = "c3RyaWN0LWNzcC1ub25jZQ"
HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Strict CSP host page</title>
<link rel="stylesheet" href="host.css?cmp={cmp}">
<script nonce="{nonce}" src="{cmp}/banner/cmp.js" data-site="{site}" async></script>
<script nonce="{nonce}">window.__ran = [];</script>
</head>
<body>
<h1 id="top">A page with a strict policy</h1>
<p>Its own scripts and styles come from files or carry the nonce.</p>
<script type="text/plain" data-cmp-vendor="mixpanel">__ran.push("inline gated");</script>
<script type="text/plain" data-cmp-vendor="mixpanel" src="gated.js?cmp={cmp}"></script>
<script type="text/plain" data-cmp-purpose="analytics">__ran.push("by purpose");</script>
</body>
</html>
"""
# Collects every violation the page reports, from before any of its own scripts runs.
LISTEN = """window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
  e.effectiveDirective + ' ' + (e.blockedURI || 'inline')), true);"""


def policies(cmp: str) -> dict[str, str]:
    base = (f"default-src 'self'; script-src 'nonce-{NONCE}' {cmp}; connect-src {cmp}; "
            "img-src 'self'; frame-src 'none'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'")
    return {
        "nonce in style-src": f"{base}; style-src 'self' {cmp} 'nonce-{NONCE}'",
        "no nonce in style-src": f"{base}; style-src 'self' {cmp}",
    }


host_page = Blueprint("strict_csp_host", __name__)
FILES = {"host.css": ("text/css", "body { font: 16px/1.5 serif; margin: 2rem; }"),
         "gated.js": ("text/javascript", '__ran.push("gated file");')}


@host_page.get("/strict-csp/<int:variant>/<name>")
def host_file(variant: int, name: str):
    """The host page (name "page") and its first-party files, each answered with the
    variant's policy as a header, as a real site would send it."""
    from flask import request

    cmp, site = request.args["cmp"], request.args.get("site", "")
    content_type, body = FILES.get(name) or (
        "text/html", HOST_PAGE.format(nonce=NONCE, cmp=cmp, site=site))
    policy = list(policies(cmp).values())[variant]
    return Response(body, content_type=content_type,
                    headers={"Content-Security-Policy": policy})


@pytest.fixture
def app(app):
    """The stress suite's app, plus the host page."""
    app.register_blueprint(host_page)
    return app


def host_url(banner_site, variant: int) -> str:
    return (f"{banner_site.page_origin}/strict-csp/{variant}/page?"
            + urlencode({"cmp": banner_site.cmp, "site": banner_site.key}))


def poll(page, expression: str, timeout: float = 10.0):
    """page.wait_for_function evaluates with eval, which the policy forbids."""
    for _ in range(int(timeout * 20)):
        value = page.evaluate(expression)
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"still false after {timeout} s: {expression}")


def test_the_banner_works_on_a_strict_csp_page(banner_site, browser, figures):
    checked = []
    for variant, name in enumerate(policies(banner_site.cmp)):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = context.new_page()
            page.add_init_script(LISTEN)
            console = []
            page.on("console", lambda m: console.append(m.text)
                    if "Content Security Policy" in m.text else None)
            answers = []
            page.on("response", lambda r: answers.append(r.status)
                    if r.request.method == "POST" and r.url.endswith("/api/v1/consents") else None)
            page.goto(host_url(banner_site, variant))
            top = page.locator("#top").bounding_box()
            dialog = page.locator("#cmp-banner")
            dialog.wait_for()
            # styled: fixed at the bottom, over the page, which did not move
            assert dialog.evaluate("e => getComputedStyle(e).position") == "fixed", name
            assert page.locator("#top").bounding_box() == top, name
            assert page.locator("[data-cmp-action=reject-all]").is_visible()
            assert page.evaluate("window.__ran") == [], name  # nothing before the choice
            page.click("[data-cmp-action=customize]")
            page.locator("#cmp-banner.l2").wait_for()  # the settings module, once loaded
            assert page.locator("#cmp-t").inner_text() == "Privacy settings", name
            assert page.locator("[data-cmp-purpose-toggle=analytics]").evaluate(
                "e => getComputedStyle(e).appearance") == "none", name  # a styled switch
            assert page.locator("#top").bounding_box() == top, name
            page.click("[data-cmp-action=accept-all]")
            ran = poll(page, "window.__ran.length >= 3 && window.__ran")
            assert ran == ["inline gated", "gated file", "by purpose"], name
            poll(page, "document.cookie.includes('cmp_consent=')")
            assert answers == [201], name
            # the policy is enforced: an inline script without the nonce does not run,
            # and its report, the last, says that every earlier one has arrived
            page.evaluate("""() => { const s = document.createElement('script');
                s.text = '__ran.push("no nonce")'; document.body.append(s); }""")
            poll(page, "window.__violations.length")
            assert "no nonce" not in page.evaluate("window.__ran"), name
            assert page.evaluate("window.__violations") == ["script-src-elem inline"], name
            assert len(console) == 1, (name, console)  # the same refusal, nothing else
            checked.append(name)
        finally:
            context.close()
    figures.add("hostile input",
                "banner on a host page whose CSP has no 'unsafe-inline' (" +
                ", ".join(checked) + ")",
                f"{len(checked)} of {len(policies(banner_site.cmp))} policies: both layers "
                "styled, no layout shift, choice recorded (201), 3 gated scripts released "
                "with the nonce, 0 CSP violations")
