"""The two requests every page view makes, served beneath Flask when nothing is wrong.

Every page view of every customer site asks for its banner configuration, and every
choice is one consent POST: these are the platform's hot paths by far. Their answers come
from per-process caches and one durable insert; what costs besides is the framework
around them (URL matching, the request context, blueprint hooks, webargs). This WSGI
middleware answers the ordinary case of each directly, with the same functions, schema
and CORS headers the Flask views use (public.banner_answer, public.consent_body,
public.CONSENT_SCHEMA, public.cors_headers).

Anything out of the ordinary goes on to Flask untouched (the body of a POST is handed on
as read): errors, unknown sites, odd queries, other methods. So every error shape, every
limit and the OpenAPI description stay in one place, the views, and a request the hot
path cannot answer costs only the checks that sent it on.
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
from werkzeug.wrappers import Request

from cmp_server.api.public import (
    CONSENT_SCHEMA, banner_answer, consent_body, cors_headers, over_rate_limit,
)
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.http import CONSENT_BODY_LIMIT
from cmp_server.platform.languages import LANGUAGE_TAG

BANNER_PATH = re.compile(r"/api/v1/sites/([A-Za-z0-9_-]{1,32})/banner")
CONSENTS_PATH = "/api/v1/consents"
LANG_QUERY = re.compile(r"lang=([A-Za-z0-9-]{1,35})")
JSON_TYPE = re.compile(r"application/json\s*(;\s*charset=utf-8\s*)?", re.IGNORECASE)
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
                answer = self.banner(match.group(1), environ)
        elif method == "POST" and path == CONSENTS_PATH:
            answer = self.consent(environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer
        start_response(STATUS_LINES[status], headers)
        return [body]

    # --- GET /api/v1/sites/<key>/banner -----------------------------------------------

    def banner(self, site_key: str, environ: dict) -> Answer | None:
        lang = plain_lang(environ.get("QUERY_STRING", ""))
        if lang is False:
            return None
        request = Request(environ)
        with self.app.app_context():
            answer = banner_answer(site_key, lang, request)
            if answer is None:
                return None
            status, headers, body = answer
            vary = dict(headers)["Vary"]
            headers = [h for h in headers if h[0] != "Vary"]
            return status, with_cors(headers, request, site_key, body, vary), body

    # --- POST /api/v1/consents ------------------------------------------------------------

    def consent(self, environ: dict) -> Answer | None:
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isdigit() and 0 < int(length) <= CONSENT_BODY_LIMIT
                and JSON_TYPE.fullmatch(environ.get("CONTENT_TYPE", ""))):
            return None
        request = Request(environ)
        with self.app.app_context():
            if over_rate_limit(request) is not None:
                return None  # the view answers 429
            raw = environ["wsgi.input"].read(int(length))
            try:
                payload = json.loads(raw)
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
                body = consent_body(CONSENT_SCHEMA.load(payload), request)
            except (ValueError, RecursionError, ValidationError, ServiceError, OperationalError):
                # the view answers with the error, from the body as it came (after a
                # database error it tries once more: the database may be back)
                environ["wsgi.input"] = io.BytesIO(raw)
                return None
            return 201, with_cors([("Content-Type", "application/json")], request,
                                  payload["site"], body), body


def plain_lang(query: str) -> str | None | bool:
    """The lang parameter of a query the banner view would accept as it is; False for any
    other query, which Flask then answers (with an error where one is due)."""
    if not query:
        return None
    match = LANG_QUERY.fullmatch(query)
    if match and LANGUAGE_TAG.match(match.group(1)):
        return match.group(1)
    return False


def with_cors(headers: list[tuple[str, str]], request: Request, site_key: str, body: bytes,
              vary: str | None = None) -> list[tuple[str, str]]:
    """The headers the blueprint's after_request hook would add, and the body's length."""
    headers = headers + cors_headers(request.headers.get("Origin"), request.method, site_key, vary)
    if body:
        headers.append(("Content-Length", str(len(body))))
    return headers


def install(app: Flask) -> None:
    app.wsgi_app = HotPaths(app, app.wsgi_app)
