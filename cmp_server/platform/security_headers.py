"""Headers that keep the platform's own pages safe in a browser: the console, the visitor's
/my-consent/ page, the API explorer and the cookie declaration page.

None of them runs inline script (scripts are files of this origin), so the
Content-Security-Policy allows scripts from this origin only; inline styles stay allowed
(the pages carry one <style> each, and Swagger UI sets style attributes). Nobody may frame
them (clickjacking a Publish or Erase button), except the console's banner preview, which
the console's own draft page frames. Pages that show an account's or a visitor's data are
never stored by caches. The banner, its configuration and the public API are not pages
and keep their own headers (they must work inside any site).
"""
from __future__ import annotations

from flask import Flask, Response, current_app, request

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; "
               "base-uri 'none'; form-action 'self'")
PAGE_BLUEPRINTS = {"console", "my_consent", "api-docs"}
STANDALONE_PAGES = {"declaration.page"}  # keeps its own, stricter policy
FRAMED_BY_CONSOLE = {"console.preview"}
NOT_STORED = {"console", "my_consent", "admin_api", "compliance_api"}


def init_app(app: Flask) -> None:
    app.after_request(add_headers)


def add_headers(response: Response) -> Response:
    endpoint, blueprint = request.endpoint or "", request.blueprint or ""
    if blueprint in PAGE_BLUEPRINTS or endpoint in STANDALONE_PAGES:
        framed = endpoint in FRAMED_BY_CONSOLE
        policy = response.headers.get("Content-Security-Policy", PAGE_POLICY)
        ancestors = "'self'" if framed else "'none'"
        response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors {ancestors}"
        response.headers["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"
        # the visitor's page links back to the site: it must not learn the page's address
        response.headers["Referrer-Policy"] = ("no-referrer" if blueprint == "my_consent"
                                               else "same-origin")
        response.headers["X-Content-Type-Options"] = "nosniff"
    if blueprint in NOT_STORED and not endpoint.endswith(".static"):
        response.headers["Cache-Control"] = "no-store"
    for name, value in app_wide(current_app.config):
        response.headers[name] = value
    return response


def app_wide(config) -> list[tuple[str, str]]:
    """The headers every answer carries, the hot path's included: HSTS when configured."""
    seconds = config["CMP_HSTS_SECONDS"]
    return [("Strict-Transport-Security", f"max-age={seconds}; includeSubDomains")] if seconds else []
