"""The real app plus two bare endpoints, so the baseline is served by the same gunicorn,
the same workers and the same process as what it is compared with."""
from flask import jsonify, request

from cmp_server import create_app

app = create_app()


@app.get("/bench/bare")
def bare_get():
    return jsonify(ok=True)


@app.post("/bench/bare")
def bare_post():
    request.get_json()
    return jsonify(ok=True), 201
