"""Liveness and readiness for load balancers and for ``make run``'s wait."""
from flask import Blueprint, jsonify
from sqlalchemy import text

from cmp_server.platform.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
