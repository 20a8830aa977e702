"""The banner GET, answered beneath Flask's dispatch when nothing about it is unusual.

Every page view of every customer site asks for its banner configuration: this is the
platform's hottest request by far. Its answer comes from per-process caches; what costs
besides is the framework around it (URL matching, the request context, blueprint hooks).
Measured with ``python -m bench.api --hot-path off`` beside the default (bench/README.md,
"The hot path"), answering it here serves about 45% more requests a second than Flask's
dispatch; the same shortcut for the consent POST bought 10% and was removed.

It answers with the view's own function (public.banner_answer), the blueprint's CORS
headers (public.cors_headers) and the app-wide ones (security_headers.app_wide), so nothing
is written twice and no app-wide header is skipped. Anything else (a query other than a
valid ?lang=, an unknown site, any error) goes on to Flask untouched.
"""
from __future__ import annotations

import re
from http import HTTPStatus
from typing import Callable, Iterable

from flask import Flask
from werkzeug.exceptions import UnprocessableEntity
from werkzeug.wrappers import Request

from cmp_server.api.public import banner_answer, cors_headers, lang_argument
from cmp_server.platform import security_headers

BANNER_PATH = re.compile(r"/api/v1/sites/([^/]+)/banner")
STATUS_LINES = {code: f"{code} {HTTPStatus(code).phrase}" for code in (200, 304)}


class BannerShortcut:
    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = (BANNER_PATH.fullmatch(environ.get("PATH_INFO", ""))
                 if environ.get("REQUEST_METHOD") == "GET" else None)
        answer = self.banner(match.group(1), Request(environ)) if match else None
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer
        start_response(STATUS_LINES[status], headers)
        return [body]

    def banner(self, site_key: str, request: Request):
        """The view's answer with the headers Flask's hooks would add, or None for Flask."""
        try:
            lang = lang_argument(request)
        except UnprocessableEntity:
            return None
        with self.app.app_context():
            answer = banner_answer(site_key, lang, request)
            if answer is None:
                return None
            status, headers, body = answer
            vary = dict(headers)["Vary"]
            headers = [h for h in headers if h[0] != "Vary"]
            headers += cors_headers(request.headers.get("Origin"), "GET", site_key, vary)
            headers += security_headers.app_wide(self.app.config)
        if body:
            headers.append(("Content-Length", str(len(body))))
        return status, headers, body


def install(app: Flask) -> None:
    app.wsgi_app = BannerShortcut(app, app.wsgi_app)
