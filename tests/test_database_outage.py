"""When PostgreSQL dies under the app, a consent gets a clear 503 in the API's error shape
(not gunicorn's HTML 500), nothing is half-recorded, and recording resumes once the
database is back. Found by the stress suite's crash tests."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from cmp_server import configs
from cmp_server.config import default_vendors_dir
from cmp_server.sites import create_site
from tests.conftest import SHOP, SHOP_VENDORS, make_app, migrate_to_head
from tests.http import call
from tests.pg import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_postgres():
    server = PostgresServer().start()
    server.wait_ready()
    server.execute("CREATE DATABASE cmp")
    yield server
    server.stop()


def test_a_dead_database_gets_503_and_recording_resumes(own_postgres, tmp_path):
    from cmp_server.vendors import import_catalogue

    url = own_postgres.url("cmp")
    migrate_to_head(url, tmp_path)
    app = make_app(url, tmp_path, CMP_CACHE_SECONDS=60)
    with app.app_context():
        import_catalogue(default_vendors_dir(), "test")
        site = create_site(SHOP)
        configs.set_draft_vendors(site, SHOP_VENDORS)
        configs.publish(site)
        body = {"site": site.key, "config_version": 1, "action": "accept_all", "language": "en"}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    consents = f"http://127.0.0.1:{server.server_port}/api/v1/consents"
    try:
        assert call("POST", consents, body).status == 201  # caches warm, pool open
        own_postgres.crash()
        answer = call("POST", consents, body)
        assert answer.status == 503
        assert answer.json["code"] == 503 and "database" in answer.json["message"]
        assert answer.headers["Retry-After"] == "5"
        own_postgres.boot()
        own_postgres.wait_ready()
        assert call("POST", consents, body).status == 201
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            from cmp_server.extensions import db

            db.engine.dispose()
