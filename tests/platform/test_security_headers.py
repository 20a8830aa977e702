"""The platform's own pages carry headers that keep them safe in a browser: a strict CSP
(no inline script), no framing (the console's banner preview only by the console),
no referrer leaks from the visitor's page, nothing stored in caches where an account's or
a visitor's data is shown, and HSTS when the operator says so."""
from __future__ import annotations

import pytest

from cmp_server.accounts.users import create_user
from tests.conftest import console_login


@pytest.fixture
def marketer(app, shop):
    app.config["SESSION_COOKIE_SECURE"] = False
    create_user({"email": "m@shop.example", "password": "a long enough password",
                 "role": "marketer"})
    client = app.test_client()
    assert console_login(client, "m@shop.example", "a long enough password").status_code == 302
    return client


def policy(answer) -> dict[str, str]:
    directives = [d.strip().split(" ", 1) for d in answer.headers["Content-Security-Policy"].split(";")]
    return {name: value for name, value in directives}


def test_console_pages_refuse_inline_script_framing_and_caches(marketer, shop):
    site, _ = shop
    for path in ("/console/", "/console/tokens", f"/console/sites/{site.key}/draft",
                 f"/console/sites/{site.key}/settings", "/console/catalogue"):
        answer = marketer.get(path)
        assert answer.status_code == 200, path
        csp = policy(answer)
        assert csp["script-src"] == "'self'" and "unsafe-inline" not in csp["script-src"], path
        assert csp["frame-ancestors"] == "'none'" and answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"


def test_only_the_console_may_frame_its_banner_preview(marketer, shop):
    site, _ = shop
    answer = marketer.get(f"/console/sites/{site.key}/preview")
    assert policy(answer)["frame-ancestors"] == "'self'"
    assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_the_login_page_my_consent_and_the_api_explorer(client):
    for path in ("/console/login", "/my-consent/", "/api/docs"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert policy(answer)["frame-ancestors"] == "'none'", path
        assert "unsafe-inline" not in policy(answer)["script-src"], path
    mine = client.get("/my-consent/")
    assert mine.headers["Referrer-Policy"] == "no-referrer"
    assert mine.headers["Cache-Control"] == "no-store"


def test_the_cookie_declaration_page_keeps_its_own_policy_and_cannot_be_framed(client, shop):
    site, _ = shop
    answer = client.get(f"/sites/{site.key}/cookies")
    csp = policy(answer)
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    # the fragment is meant to be inserted into the site's own pages: no page headers
    fragment = client.get(f"/sites/{site.key}/cookies.fragment.html")
    assert "X-Frame-Options" not in fragment.headers


def test_hsts_only_when_the_operator_turns_it_on(app, client):
    assert "Strict-Transport-Security" not in client.get("/console/login").headers
    app.config["CMP_HSTS_SECONDS"] = 31536000
    assert client.get("/console/login").headers["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains"
