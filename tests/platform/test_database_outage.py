"""When PostgreSQL dies under the app, a consent gets a clear 503 in the API's error shape
(not gunicorn's HTML 500), nothing is half-recorded, and recording resumes once the
database is back. Found by the stress suite's crash tests."""
from __future__ import annotations

import pytest

from cmp_server.platform.extensions import db
from tests.conftest import app_on_own_database, own_postgres_server
from tests.support.http import call

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_postgres():
    """A server of this test's own, since the test crashes it."""
    with own_postgres_server() as server:
        yield server


@pytest.fixture
def app(own_postgres, tmp_path):
    """tests/conftest.py's app, on the server this test crashes."""
    with app_on_own_database(own_postgres.url("cmp"), tmp_path) as app:
        yield app


def test_a_dead_database_gets_503_and_recording_resumes(own_postgres, live_server, shop):
    site, version = shop
    consents = f"{live_server}/api/v1/consents"
    body = {"site": site.key, "config_version": version.number, "action": "accept_all",
            "language": "en"}
    origin = {"Origin": "https://shop.example"}
    assert call("POST", consents, body, headers=origin).status == 201  # caches warm, pool open
    db.session.remove()  # this test's own connection would die with the server
    own_postgres.crash()
    answer = call("POST", consents, body, headers=origin)
    assert answer.status == 503
    assert answer.json["code"] == 503 and "database" in answer.json["message"]
    assert answer.headers["Retry-After"] == "5"
    # an origin this worker has not looked up yet: the 503 goes out without CORS headers
    # (the database cannot say whether it is registered), never as a 500
    cold = call("POST", consents, body, headers={"Origin": "https://cold.example"})
    assert cold.status == 503 and "Access-Control-Allow-Origin" not in cold.headers
    own_postgres.boot()
    own_postgres.wait_ready()
    assert call("POST", consents, body, headers=origin).status == 201
