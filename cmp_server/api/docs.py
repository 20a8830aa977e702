"""The OpenAPI document and its explorer, served with no third-party host: Swagger UI's
assets come from the swagger-ui-bundle package."""
from __future__ import annotations

import json
from pathlib import Path

import flask_smorest
import swagger_ui_bundle
from flask import Blueprint, Flask, Response, abort, send_from_directory
from flask_smorest import Api
from webargs.flaskparser import FlaskParser, is_json_request
from cmp_server.platform.http import API_BODY_LIMIT


# The admin and compliance routes: an API token (Swagger UI's Authorize uses it)
PRIVATE = [{"apiToken": []}]


class BodyParser(FlaskParser):
    """webargs' parser, refusing what the stock one lets through: a body that is not JSON
    (415; it was read as no body at all, so a PATCH answered 200 having done nothing), one
    over the limit (413), and one json.loads refuses (nested deeper than it recurses, a
    number with more digits than it converts: 400 like malformed JSON, where it was a 500).
    It runs after the role check, so an unauthorised caller learns nothing from it."""

    def _raw_load_json(self, req):
        if req.content_length and not is_json_request(req):
            abort(415, description="Send the body as application/json.")
        if req.max_content_length is None or req.max_content_length > API_BODY_LIMIT:
            req.max_content_length = API_BODY_LIMIT
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as error:
            # a non-empty document: webargs reads an empty one as "no body at all"
            raise json.JSONDecodeError(f"unreadable JSON: {error}", "(body)", 0) from None


# Every blueprint's @arguments binds this parser when its module is imported, which is
# after this one (cmp_server/__init__.py imports api.docs first).
flask_smorest.Blueprint.ARGUMENTS_PARSER = BodyParser()
api = Api()
ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
assets = Blueprint("api_docs_assets", __name__)

OPENAPI_SETTINGS = {
    "API_TITLE": "Consent platform API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
}


# Swagger UI started from a file rather than the inline script of flask-smorest's page
# (templates/swagger_ui.html replaces it), so the page runs under a CSP without
# 'unsafe-inline' scripts (cmp_server.security_headers).
START_SCRIPT = """window.addEventListener('load', function () {
  var container = document.getElementById('swagger-ui-container');
  window.ui = SwaggerUIBundle({url: container.getAttribute('data-spec-url'),
                               dom_id: '#swagger-ui-container'});
});"""


@assets.get("/api/docs/start.js")
def start():
    return Response(START_SCRIPT, mimetype="text/javascript",
                    headers={"Cache-Control": "max-age=3600"})


@assets.get("/api/docs/assets/<path:name>")
def asset(name: str):
    return send_from_directory(ASSETS, name, max_age=86400)


def init_app(app: Flask) -> None:
    for key, value in OPENAPI_SETTINGS.items():
        app.config.setdefault(key, value)
    api.init_app(app)
    if "apiToken" not in api.spec.components.security_schemes:
        api.spec.components.security_scheme("apiToken", {
            "type": "http", "scheme": "bearer",
            "description": "A user's API token (cmpt_...), made on the console's API tokens "
                           "page; a console session works too, with X-CSRF-Token for writes.",
        })
    if "collectionToken" not in api.spec.components.security_schemes:
        api.spec.components.security_scheme("collectionToken", {
            "type": "http", "scheme": "bearer",
            "description": "A site's collection token (cmpc_...), for recording consents from "
                           "the site's own servers: POST /api/v1/admin/sites/{key}/"
                           "collection-tokens makes one.",
        })
    app.register_blueprint(assets)
