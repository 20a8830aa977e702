"""Public keys at a well-known URL, so anyone can check the ledger's seals."""
from flask import Blueprint, jsonify

from cmp_server.consent.sealing import published_keys

bp = Blueprint("wellknown", __name__)


@bp.get("/.well-known/cmp-keys.json")
def keys():
    response = jsonify(published_keys())
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
