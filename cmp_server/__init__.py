"""The consent platform's Flask application."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.http import HTTP_STATUS_CODES

from cmp_server import demo
from cmp_server.api import admin, compliance, docs, hot_path, public, wellknown
from cmp_server.banner import assets
from cmp_server.cli import cmp
from cmp_server.consent import pages, receipts
from cmp_server.console import views
from cmp_server.platform import health, security_headers, settings
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db, migrate
from cmp_server.sites import declaration


DATABASE_RETRY_SECONDS = 5


def create_app(
    test_config: dict[str, Any] | None = None, instance_path: str | None = None
) -> Flask:
    app = Flask(
        __name__,
        instance_path=instance_path or settings.instance_path(),
        instance_relative_config=True,
    )
    load_config(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    hot_path.install(app)
    return app


def make_private_folder(path: Path) -> None:
    """The instance folder, for its owner only (0700): it holds the database, the keys
    and the secrets."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        try:
            path.chmod(0o700)
        except PermissionError:  # not ours (a shared mount): its owner decides
            pass


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    make_private_folder(Path(app.instance_path))  # the SQLite file and the keys live here
    app.config.from_mapping(settings.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
    app.config["SQLALCHEMY_DATABASE_URI"] = settings.normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    logging.getLogger("cmp_server").setLevel(app.config["CMP_LOG_LEVEL"])


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db)
    docs.init_app(app)
    security_headers.init_app(app)
    receipts.init_app(app)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(demo.bp)
    app.register_blueprint(wellknown.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(declaration.bp)
    docs.api.register_blueprint(public.blp)
    docs.api.register_blueprint(compliance.blp)
    docs.api.register_blueprint(admin.blp)


def register_errorhandlers(app: Flask) -> None:
    """One error shape for every JSON answer: {code, status, message, errors}."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        body = {
            "code": error.code,
            "status": error.name,
            "message": error.description,
            "errors": getattr(error, "errors", None) or getattr(error, "data", {}).get("messages", {}),
        }
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return jsonify(body), error.code, headers

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        """The database is down or unreachable: a clear 503 the caller may retry, rather
        than a 500 (the banner keeps the choice and sends it again on the next page)."""
        logging.getLogger("cmp_server").warning("database unavailable: %s", type(error.orig).__name__)
        db.session.rollback()  # the hooks that run after this may ask again (and hear no)
        return http_error(ServiceUnavailable(
            "The database did not answer, so nothing could be recorded; try again shortly.",
            retry_after=DATABASE_RETRY_SECONDS))

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        status = error.status
        body = {
            "code": status,
            "status": HTTP_STATUS_CODES[status],
            "message": error.message,
            "errors": {"json": error.errors},
        }
        return jsonify(body), status


def register_commands(app: Flask) -> None:
    app.cli.add_command(cmp)
