"""Hostile input: oversized, deeply nested and malformed bodies, wrong content types,
invalid UTF-8, huge numbers, NUL bytes and lone surrogates, sent over real HTTP to every
public endpoint that takes a body, the visitor's own pages and every admin write, on both
engines. Each gets a clear 4xx (JSON in the error shape of the API, a page naming the
problem for the visitor's forms), nothing is stored, and the server stays up."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from cmp_server.accounts.tokens import create_token
from cmp_server.platform.extensions import db
from cmp_server.accounts.users import create_user
from tests.support.http import call

pytestmark = pytest.mark.stress
JSON, FORM = "application/json", "application/x-www-form-urlencoded"
TABLES = ("consent_records", "sites", "vendors", "users", "audit_events", "draft_vendors",
          "config_versions", "api_tokens", "subject_requests")


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def hostile_bodies(valid: dict) -> dict[str, tuple[bytes, str]]:
    """Name -> (raw body, content type), built around a valid body of the endpoint."""
    def with_value(value) -> bytes:
        key = next(iter(valid))
        return json.dumps({**valid, key: value}).encode()

    return {
        "oversized (1 MiB)": (json.dumps({**valid, "x": "a" * 2**20}).encode(), JSON),
        "100k nested arrays": (nested(100_000), JSON),
        "3k nested arrays (under the size limit)": (nested(3_000), JSON),
        "100k nested in a field": (with_value("§").replace(b'"\\u00a7"', nested(100_000)), JSON),
        "malformed JSON": (b'{"site": ', JSON),
        "empty JSON body": (b"", JSON),
        "JSON array": (b"[1, 2]", JSON),
        "text/plain": (json.dumps(valid).encode(), "text/plain"),
        "form encoded": (b"site=x&action=accept_all", FORM),
        "multipart": (b"--b\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b"),
        "invalid UTF-8": (json.dumps(valid).encode()[:-1] + b', "\xff\xfe": "\xc3"}', JSON),
        "huge integer": (with_value(1).replace(b": 1", b": " + b"9" * 5000), JSON),
        "huge float": (with_value(1).replace(b": 1", b": 1e999"), JSON),
        "NaN": (with_value(1).replace(b": 1", b": NaN"), JSON),
        "NUL byte in a string": (with_value("a\u0000b"), JSON),
        "lone surrogate in a string": (with_value("\udc00"), JSON),
        "NUL byte in a key": (json.dumps({**valid, "a\u0000": 1}).encode(), JSON),
        "wrong type": (with_value({"nested": [1, 2]}), JSON),
    }


def stored(app) -> dict[str, int]:
    with app.app_context():
        return {table: db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in TABLES}


def check_answer(answer, what: str, endpoint: str) -> None:
    if endpoint == "/api/v1/receipts/verify" and answer.status == 200:
        # any string is a token to judge: a hostile one is an answer, not an error
        assert answer.json["valid"] is False and answer.json["reason"], what
        return
    assert 400 <= answer.status < 500, f"{endpoint} {what}: {answer.status} {answer.body[:300]!r}"
    if endpoint.startswith("/my-consent"):
        return  # the visitor's own pages answer with a page (checked in tests/consent/test_subjects.py)
    body = answer.json
    assert body["code"] == answer.status and body["message"], f"{endpoint} {what}: {body}"
    if answer.status == 422:
        assert body["errors"], f"{endpoint} {what}: no field named"


@pytest.fixture
def admin_headers(app) -> dict[str, str]:
    admin = create_user({"email": "hostile@shop.example", "password": "a long enough password",
                         "operator": True, "role": "admin"})
    return {"Authorization": f"Bearer {create_token(admin, 'hostile bodies')[1]}"}


def endpoints(site, token: str) -> list[tuple[str, str, dict]]:
    """(method, path, a valid body) for every endpoint that reads a body."""
    return [
        ("POST", "/api/v1/consents", {"site": site.key, "config_version": 1,
                                      "action": "accept_all", "language": "sv"}),
        ("POST", "/api/v1/receipts/verify", {"token": token}),
        ("POST", "/api/v1/admin/sites", {"name": "New site"}),
        ("PATCH", f"/api/v1/admin/sites/{site.key}", {"name": "Renamed"}),
        ("PATCH", f"/api/v1/admin/sites/{site.key}/draft", {"theme": {"accent": "#123456"}}),
        ("POST", "/api/v1/admin/vendors", {"id": "x-vendor"}),
        ("PUT", "/api/v1/admin/vendors/mixpanel", {"id": "mixpanel"}),
        ("POST", "/api/v1/admin/users", {"email": "new@shop.example",
                                         "password": "a long enough password", "role": "admin"}),
        ("POST", "/api/v1/admin/workspaces", {"name": "Agency"}),
        ("POST", "/api/v1/admin/workspaces/1/members", {"email": "new@shop.example",
                                                        "role": "marketer"}),
    ]


FORM_BODIES = {
    "oversized form (1 MiB)": b"token=" + b"a" * 2**20,
    "invalid UTF-8": b"token=%ff%fe%c3&confirm=yes",
    "NUL byte": b"token=a%00b&confirm=yes",
    "malformed encoding": b"token=%%%zz&&==",
    "huge number of fields": b"&".join(b"purpose-%d=on" % i for i in range(2000)),
}


def test_every_endpoint_refuses_hostile_bodies_clearly(app, live_server, shop, admin_headers,
                                                       figures, engine_name):
    from cmp_server.consent.receipts import record_consent

    app.config["CMP_RATE_LIMIT_PER_MINUTE"] = 0  # one client, many requests
    site, _ = shop
    token = record_consent({"site": site.key, "config_version": 1, "action": "accept_all",
                            "language": "sv"}, None, "https://shop.example").token
    before = stored(app)
    sent = 0
    for method, path, valid in endpoints(site, token):
        for what, (raw, content_type) in hostile_bodies(valid).items():
            if method == "PATCH" and not raw:
                continue  # an empty PATCH is an update of nothing, like {}
            answer = call(method, live_server + path, raw=raw, content_type=content_type,
                          headers={**admin_headers, "Content-Type": content_type})
            check_answer(answer, what, path)
            sent += 1
    for path in ("/my-consent/", "/my-consent/download", "/my-consent/change", "/my-consent/erase"):
        for what, raw in FORM_BODIES.items():
            check_answer(call("POST", live_server + path, raw=raw, content_type=FORM), what, path)
            sent += 1
    assert stored(app) == before
    assert call("GET", f"{live_server}/healthz").status == 200
    figures.add("hostile input", f"malformed bodies on {engine_name}",
                f"{sent} requests to {len(endpoints(site, token)) + 4} endpoints: all clear 4xx, "
                "nothing stored, server up")
