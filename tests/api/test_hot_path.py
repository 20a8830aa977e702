"""The banner GET and the consent POST served beneath Flask (cmp_server.api.hot_path)
answer exactly as the Flask views do, app-wide headers included, and leave every other
request to Flask."""
from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from cmp_server.api.hot_path import HotPaths

ORIGIN = "https://shop.example"


@pytest.fixture
def clients(app, shop):
    """(through the hot path, straight to Flask's own dispatch)."""
    hot = app.wsgi_app
    assert isinstance(hot, HotPaths)
    return Client(hot), Client(hot.wsgi_app)


def comparable(response) -> tuple:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Content-Length")
    return response.status_code, headers, response.get_data()


@pytest.mark.parametrize("query, headers", [
    ("", {}),
    ("?lang=sv", {}),
    ("?lang=nb-NO", {"Accept-Language": "de"}),
    ("", {"Accept-Language": "nl-NL,nl;q=0.9", "Origin": ORIGIN}),
])
def test_the_hot_path_answers_as_the_view_does(clients, shop, query, headers):
    hot, flask = clients
    url = f"/api/v1/sites/{shop[0].key}/banner{query}"
    fast, slow = hot.get(url, headers=headers), flask.get(url, headers=headers)
    assert fast.status_code == 200
    assert comparable(fast) == comparable(slow)
    assert fast.headers["Content-Length"] == str(len(fast.get_data()))
    again = {**headers, "If-None-Match": fast.headers["ETag"]}
    fast, slow = hot.get(url, headers=again), flask.get(url, headers=again)
    assert fast.status_code == 304 and fast.get_data() == b""
    assert comparable(fast)[:2] == comparable(slow)[:2]


def test_cors_headers_name_only_a_registered_origin(clients, shop):
    hot, _ = clients
    url = f"/api/v1/sites/{shop[0].key}/banner"
    allowed = hot.get(url, headers={"Origin": ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed.headers["Vary"] == "Accept-Language, Origin"
    # another origin's page gets the view's refusal, which it may read, and nothing else
    refused = hot.get(url, headers={"Origin": "https://elsewhere.example"})
    assert refused.status_code == 403 and "https://elsewhere.example" in refused.json["message"]
    assert refused.headers["Access-Control-Allow-Origin"] == "https://elsewhere.example"
    assert "ETag" not in refused.headers


@pytest.mark.parametrize("path, headers", [
    ("/api/v1/sites/{key}/banner?lang=sv&x=1", {}),      # unknown parameter: 422 from the schema
    ("/api/v1/sites/{key}/banner?lang=not_a_tag", {}),   # invalid language: 422
    ("/api/v1/sites/nosuchsite/banner", {}),             # unknown site: 404 in the error shape
    ("/api/v1/sites/{key}/banner", {"Origin": "https://elsewhere.example"}),  # unregistered: 403
])
def test_everything_else_goes_to_flask(clients, shop, path, headers):
    hot, flask = clients
    url = path.format(key=shop[0].key)
    fast, slow = hot.get(url, headers=headers), flask.get(url, headers=headers)
    assert fast.status_code in (403, 404, 422)
    assert comparable(fast) == comparable(slow)
    assert set(fast.get_json()) == {"code", "status", "message", "errors"}


def test_a_newly_published_version_is_served_at_once(app, clients, shop):
    from cmp_server.sites import versions

    hot, _ = clients
    site, _ = shop
    url = f"/api/v1/sites/{site.key}/banner"
    assert hot.get(url).get_json()["version"] == 1
    versions.set_draft_vendors(site, [("craft-cms", None), ("hotjar", None)])
    versions.publish(site)
    answer = hot.get(url).get_json()
    assert answer["version"] == 2 and "hotjar" in {v["id"] for v in answer["vendors"]}


def test_app_wide_headers_are_not_skipped(app, clients, shop):
    """HSTS, which every answer carries once configured, was missing from the shortcut's."""
    app.config["CMP_HSTS_SECONDS"] = 31536000
    hot, flask = clients
    url = f"/api/v1/sites/{shop[0].key}/banner"
    fast, slow = hot.get(url), flask.get(url)
    assert fast.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert comparable(fast) == comparable(slow)


def consent_body(site, **fields) -> dict:
    return {"site": site.key, "config_version": 1, "action": "accept_all", "language": "sv",
            **fields}


def stored_count(app) -> int:
    from sqlalchemy import func, select

    from cmp_server.platform.extensions import db
    from cmp_server.models import ledger

    return db.session.execute(select(func.count()).select_from(ledger.t.records)).scalar()


def test_a_consent_recorded_on_the_hot_path_matches_the_view(app, clients, shop):
    hot, flask = clients
    site, _ = shop
    headers = {"Origin": ORIGIN}
    fast = hot.post("/api/v1/consents", json=consent_body(site), headers=headers)
    slow = flask.post("/api/v1/consents", json=consent_body(site), headers=headers)
    assert fast.status_code == slow.status_code == 201
    skip = {"Content-Length"}
    assert ({k: v for k, v in fast.headers.items() if k not in skip}
            == {k: v for k, v in slow.headers.items() if k not in skip})
    varying = {"receipt_id", "subject_id", "issued_at", "expires_at"}
    same = [{k: v for k, v in r.get_json()["receipt"].items() if k not in varying}
            for r in (fast, slow)]
    assert same[0] == same[1]
    assert stored_count(app) == 2


@pytest.mark.parametrize("body, headers, status", [
    (b'{"site": ', {}, 400),                                             # malformed JSON
    (b"[1, 2]", {}, 422),                                               # not an object
    (None, {"Origin": "https://elsewhere.example"}, 403),               # unregistered origin
    ({"vendors": {"nope": True}, "action": "custom"}, {"Origin": ORIGIN}, 422),  # unknown vendor
    ({"surprise": 1}, {"Origin": ORIGIN}, 422),                         # unknown field
    (None, {}, 403),                                                    # no Origin, no token
])
def test_a_refused_consent_gets_the_views_error_and_stores_nothing(
        app, clients, shop, body, headers, status):
    hot, flask = clients
    site, _ = shop
    if body is None or isinstance(body, dict):
        body = json.dumps(consent_body(site, **(body or {}))).encode()
    kwargs = dict(data=body, headers={**headers, "Content-Type": "application/json"})
    fast, slow = hot.post("/api/v1/consents", **kwargs), flask.post("/api/v1/consents", **kwargs)
    assert fast.status_code == status
    assert comparable(fast) == comparable(slow)
    assert stored_count(app) == 0


def test_a_consent_carries_the_app_wide_headers(app, clients, shop):
    app.config["CMP_HSTS_SECONDS"] = 600
    hot, _ = clients
    answer = hot.post("/api/v1/consents", json=consent_body(shop[0]),
                      headers={"Origin": ORIGIN})
    assert answer.status_code == 201
    assert answer.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
