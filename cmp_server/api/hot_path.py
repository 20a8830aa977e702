"""The banner GET and the consent POST, answered beneath Flask's dispatch when nothing
about them is unusual.

Every page view of every customer site asks for its banner configuration, and every
choice is one consent POST: these are the platform's hot paths by far. Their answers come
from per-process caches and one durable insert; what costs besides is the framework around
them (URL matching, the request context, blueprint hooks, webargs). Measured with
``python -m bench.api --hot-path off`` beside the default (bench/README.md, "The hot
path"), this serves about 45% more banner GETs a second than Flask's dispatch, and 10% (on
PostgreSQL) to 30% (on SQLite) more consents.

It answers with the views' own functions (public.banner_answer, lang_argument,
ordinary_json_body, CONSENT_SCHEMA, consent_body), the blueprint's CORS headers
(public.cors_headers) and the app-wide ones (security_headers.app_wide), so nothing is
written twice and no app-wide header is skipped. Anything else (a query other than a valid
?lang=, an unknown site, a body the schema refuses, any error) goes on to Flask, which
answers it with the view: a consent's body, already read, is handed on as it came, and
its rate-limit count is not taken twice (public.over_rate_limit notes it in the request).
"""
from __future__ import annotations

import io
import json
import re
from http import HTTPStatus
from typing import Callable, Iterable

from flask import Flask
from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import UnprocessableEntity
from werkzeug.wrappers import Request

from cmp_server.api.public import (
    CONSENT_SCHEMA, banner_answer, consent_body, cors_headers, lang_argument, ordinary_json_body,
    over_rate_limit, registered,
)
from cmp_server.platform import security_headers
from cmp_server.platform.errors import ServiceError

BANNER_PATH = re.compile(r"/api/v1/sites/([^/]+)/banner")
CONSENTS_PATH = "/api/v1/consents"
STATUS_LINES = {code: f"{code} {HTTPStatus(code).phrase}" for code in (200, 201, 304)}
Answer = tuple[int, list[tuple[str, str]], bytes]


class HotPaths:
    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        answer = None
        if method == "GET":
            match = BANNER_PATH.fullmatch(path)
            if match:
                answer = self.banner(match.group(1), Request(environ))
        elif method == "POST" and path == CONSENTS_PATH:
            answer = self.consent(Request(environ))
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer
        start_response(STATUS_LINES[status], headers)
        return [body]

    def banner(self, site_key: str, request: Request) -> Answer | None:
        """The view's answer with the headers Flask's hooks would add, or None for Flask."""
        try:
            lang = lang_argument(request)
        except UnprocessableEntity:
            return None
        with self.app.app_context():
            origin = request.headers.get("Origin")
            if origin is not None and not registered(origin, site_key):
                return None  # the view refuses it, saying why
            answer = banner_answer(site_key, lang, request)
            if answer is None:
                return None
            status, headers, body = answer
            vary = dict(headers)["Vary"]
            headers = [h for h in headers if h[0] != "Vary"]
            return status, self.hooked(headers, request, site_key, body, vary,
                                       allowed=origin is not None), body

    def consent(self, request: Request) -> Answer | None:
        """The view's 201, or None for Flask (which then answers from the body as it came;
        after a database error it tries once more: the database may be back)."""
        if not ordinary_json_body(request):
            return None
        environ = request.environ
        with self.app.app_context():
            if over_rate_limit(request) is not None:
                return None  # the view answers 429
            raw = environ["wsgi.input"].read(request.content_length)
            try:
                payload = json.loads(raw)
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
                body = consent_body(CONSENT_SCHEMA.load(payload), request)
            except (ValueError, RecursionError, ValidationError, ServiceError, OperationalError):
                environ["wsgi.input"] = io.BytesIO(raw)
                return None
            headers = [("Content-Type", "application/json")]
            return 201, self.hooked(headers, request, payload["site"], body), body

    def hooked(self, headers: list[tuple[str, str]], request: Request, site_key: str,
               body: bytes, vary: str | None = None, allowed: bool | None = None
               ) -> list[tuple[str, str]]:
        """The headers the hooks would add (CORS, app-wide), and the body's length.
        ALLOWED: whether the Origin is registered, when already known."""
        headers = (headers + cors_headers(request.headers.get("Origin"), request.method,
                                          site_key, vary, allowed)
                   + security_headers.app_wide(self.app.config))
        if body:
            headers.append(("Content-Length", str(len(body))))
        return headers


def install(app: Flask) -> None:
    app.wsgi_app = HotPaths(app, app.wsgi_app)
