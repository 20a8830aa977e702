"""A 201 means the record is durable even on a PostgreSQL server whose defaults say
otherwise: the platform's connections raise synchronous_commit=off to on, and a server
running with fsync=off or full_page_writes=off (which no session can override) is
reported in the log."""
from __future__ import annotations

import logging
import time
from contextlib import ExitStack

import pytest

from cmp_server.platform.extensions import db
from tests.conftest import app_on_own_database, make_app, own_postgres_server
from tests.support.http import call
from harness.postgres import PostgresServer

pytestmark = pytest.mark.postgres
CONSENTS = 12


@pytest.fixture
def asynchronous_postgres():
    """fsync on, but commits asynchronous by default, and the WAL writer (which would
    flush them later) waiting 10 s between rounds."""
    with own_postgres_server(durable=True, settings={"synchronous_commit": "off",
                                                     "wal_writer_delay": "10s"}) as server:
        yield server


@pytest.fixture
def app(asynchronous_postgres, tmp_path):
    with app_on_own_database(asynchronous_postgres.url("cmp"), tmp_path) as app:
        yield app


def wal_flushes_once_clients_left(server: PostgresServer) -> int:
    """How often the server has flushed its WAL to disk (pg_stat_wal.wal_sync), read once
    every other client has disconnected: a backend reports its statistics when it exits."""
    db.session.remove()
    db.engine.dispose()  # closes the pool's connections and the ledger writer's
    deadline = time.monotonic() + 15
    others = ("SELECT count(*) FROM pg_stat_activity "
              "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    while server.fetch(others)[0][0] and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.fetch("SELECT wal_sync FROM pg_stat_wal")[0][0]


def test_each_consent_is_flushed_although_the_server_commits_asynchronously(
        asynchronous_postgres, live_server, shop):
    site, version = shop
    body = {"site": site.key, "config_version": version.number, "action": "accept_all",
            "language": "en"}
    assert asynchronous_postgres.fetch("SHOW synchronous_commit") == [("off",)]
    before = wal_flushes_once_clients_left(asynchronous_postgres)
    for _ in range(CONSENTS):  # one after another, so no two share a flush
        assert call("POST", f"{live_server}/api/v1/consents", body,
                    headers={"Origin": "https://shop.example"}).status == 201
    flushes = wal_flushes_once_clients_left(asynchronous_postgres) - before
    # asynchronous, the twelve commits would have waited for the WAL writer: no flush
    assert flushes >= CONSENTS


def answers_of_a_new_app(url: str, instance_path, queries: list[str]) -> list:
    """A new app's answers to ``queries``, each on a connection of its own, all open at
    once (so each is a new connection to the server)."""
    app = make_app(url, instance_path)
    with app.app_context():
        with ExitStack() as stack:
            connections = [stack.enter_context(db.engine.connect()) for _ in queries]
            answers = [connection.execute(db.text(query)).scalar()
                       for connection, query in zip(connections, queries)]
        db.engine.dispose()
    return answers


def server_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "PostgreSQL at" in r.getMessage()]


@pytest.mark.parametrize("settings, named", [
    ({}, "fsync=off"),  # as the test session's server runs
    ({"full_page_writes": "off"}, "fsync=off and full_page_writes=off"),
])
def test_a_server_that_a_crash_can_corrupt_is_reported_once(tmp_path, caplog, settings, named):
    caplog.set_level(logging.WARNING, logger="cmp_server")
    with own_postgres_server(settings=settings) as server:
        for _ in range(2):  # two apps of one process, each with two connections
            answers_of_a_new_app(server.url("cmp"), tmp_path, ["SELECT 1", "SELECT 1"])
        turn_on = named.replace("=off", "")
        assert server_warnings(caplog) == [
            f"PostgreSQL at 127.0.0.1:{server.port} runs with {named}: a crash of its host "
            "can lose or corrupt acknowledged consent records. "
            f"Turn {turn_on} on in postgresql.conf."]


def test_a_crash_safe_server_is_not_reported(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="cmp_server")
    with own_postgres_server(durable=True) as server:
        answers_of_a_new_app(server.url("cmp"), tmp_path, ["SELECT 1"])
    assert server_warnings(caplog) == []


def test_a_stronger_setting_is_kept(tmp_path):
    """remote_apply (synchronous replication) waits for more than on does: not lowered."""
    with own_postgres_server(settings={"synchronous_commit": "remote_apply"}) as server:
        assert answers_of_a_new_app(server.url("cmp"), tmp_path,
                                    ["SHOW synchronous_commit"]) == ["remote_apply"]
