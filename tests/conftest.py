"""Fixtures: every test that touches the database gets a fresh one, on SQLite and on a
real PostgreSQL server, created from a template that the migrations built once."""
from __future__ import annotations

import shutil
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask_migrate import upgrade

from cmp_server import create_app
from cmp_server.sites import versions
from cmp_server.platform.settings import default_vendors_dir
from cmp_server.sites.registry import create_site
from cmp_server.sites.vendors import import_catalogue
from harness.postgres import PostgresServer

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
SHOP = {
    "name": "Shop",
    "origins": ["https://shop.example"],
    "controller": {
        "name": "Shop AB", "address": "Storgatan 1, Stockholm", "country": "SE",
        "email": "privacy@shop.example",
    },
    "privacy_policy_url": "https://shop.example/privacy",
}
TEST_SECRET_KEYS = ["test-signing-key-0123456789abcdef", "older-key-still-verifies-0123"]


def console_login(client, email: str, password: str, base_url: str = "http://localhost",
                  headers: dict[str, str] | None = None, **fields):
    """Log in through the console's form as a browser does: the form (and its CSRF
    token) first, then the POST."""
    client.get("/console/login", base_url=base_url, headers=headers)
    with client.session_transaction() as session:
        token = session["csrf"]
    return client.post("/console/login", base_url=base_url, headers=headers, data={
        "email": email, "password": password, "csrf_token": token, **fields})


def make_app(database_url: str, instance_path: Path, **extra):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": TEST_SECRET_KEYS[0],
        "CMP_SECRET_KEYS": TEST_SECRET_KEYS,
        "CMP_CACHE_SECONDS": 0,  # tests see every change at once; tests/platform/test_cache.py covers caching
        **extra,
    }
    return create_app(config, instance_path=str(instance_path))


def migrate_to_head(database_url: str, instance_path: Path) -> None:
    app = make_app(database_url, instance_path)
    with app.app_context():
        upgrade()
        from cmp_server.platform.extensions import db

        db.engine.dispose()


@contextmanager
def own_postgres_server(**options):
    """A PostgreSQL server of one test's own (PostgresServer's options), with an empty
    database ``cmp``: for a test that crashes its server or needs other settings."""
    server = PostgresServer(**options).start()
    try:
        server.wait_ready()
        server.execute("CREATE DATABASE cmp")
        yield server
    finally:
        server.stop()


@contextmanager
def app_on_own_database(url: str, instance_path: Path):
    """An app on a database of the test's own, migrated to head, in its app context
    (caches kept warm, so a consent reaches the database write before it notices
    anything about the server); its connections are closed at the end."""
    from cmp_server.platform.extensions import db

    migrate_to_head(url, instance_path)
    app = make_app(url, instance_path, CMP_CACHE_SECONDS=60)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer().start()
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sqlite-template")
    path = root / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}", root)
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres, tmp_path_factory) -> str:
    name = "cmp_template"
    postgres.execute(f"CREATE DATABASE {name}")
    migrate_to_head(postgres.url(name), tmp_path_factory.mktemp("pg-template"))
    return name


@pytest.fixture(params=ENGINES)
def engine_name(request) -> str:
    return request.param


@pytest.fixture
def instance_path(tmp_path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def empty_database_url(engine_name, request, tmp_path):
    """A database with no tables at all, for migration tests."""
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    postgres = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres.execute(f"CREATE DATABASE {name}")
    yield postgres.url(name)
    postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def database_url(engine_name, request, tmp_path):
    """A fresh database at the newest schema."""
    if engine_name == "sqlite":
        path = tmp_path / "cmp.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    postgres = request.getfixturevalue("postgres")
    template = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield postgres.url(name)
    postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def app(database_url, instance_path):
    app = make_app(database_url, instance_path)
    with app.app_context():
        yield app
        from cmp_server.platform.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def catalogue(app):
    """The shipped catalogue, imported."""
    report = import_catalogue(default_vendors_dir(), "test")
    assert not report.refused, [str(r) for r in report.refused]
    return report


@pytest.fixture
def live_server(app):
    """The app behind a real HTTP server on loopback (threaded werkzeug), same database."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


SHOP_VENDORS = [("craft-cms", None), ("google-analytics", None), ("mixpanel", None),
                ("piwik-pro", "enterprise"), ("facebook", None)]


@pytest.fixture
def shop(app, catalogue):
    """A site with five vendors and one published version."""
    site = create_site(SHOP)
    versions.set_draft_vendors(site, SHOP_VENDORS)
    version, _ = versions.publish(site)
    return site, version
