"""Concurrent appends share durable commits, and each caller returns only once its own
record is committed (consent_logs.group_commit), on SQLite and on PostgreSQL; each commit
is one statement on the writer's own connection (consent_logs.writer)."""
from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from consent_logs.group_commit import GroupCommit
from consent_logs.ledger import ROW_COLUMNS
from consent_logs.timeutil import as_utc
from cmp_server.platform.extensions import db
from cmp_server.models import ledger


def record(receipt_id: str | None = None) -> dict:
    return {"receipt_id": receipt_id or str(uuid.uuid4()), "site": "s", "subject_id": "subj",
            "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z",
            "state": "given", "previous_receipt_id": None}


def stored(receipt_id: str) -> bool:
    """Looked up on a connection of its own: what another process would see."""
    with db.engine.connect() as conn:
        query = select(ledger.t.records.c.seq).where(ledger.t.records.c.receipt_id == receipt_id)
        return conn.execute(query).first() is not None


class Counting:
    """The app's writer, counting its statements and flushes."""

    def __init__(self, writer):
        self.writer, self.statements, self.syncs = writer, 0, 0

    def write(self, rows):
        self.statements += 1
        return self.writer.write(rows)

    def sync(self, position):
        self.syncs += 1
        self.writer.sync(position)


def test_concurrent_appends_share_commits_and_return_only_when_committed(app):
    counting = Counting(ledger.writer(db.engine))
    writer = GroupCommit(ledger, counting)
    start = threading.Barrier(16)
    seen_committed = []

    def append(_):
        with app.app_context():
            receipt = record()
            start.wait()
            for _ in range(10):
                receipt = record()
                writer.append(receipt, 14)
                seen_committed.append(stored(receipt["receipt_id"]))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(append, range(16)))
    total = db.session.execute(select(func.count()).select_from(ledger.t.records)).scalar()
    assert total == 160 and all(seen_committed) and len(seen_committed) == 160
    assert counting.statements < 160  # some statements served several records
    assert counting.syncs == counting.statements


def test_a_bad_record_fails_alone(app):
    writer = GroupCommit(ledger, ledger.writer(db.engine))
    taken = record()
    writer.append(taken, 0)
    outcomes = {}
    start = threading.Barrier(8)

    def append(index):
        with app.app_context():
            receipt = record(taken["receipt_id"] if index == 0 else None)  # 0 is a duplicate
            start.wait()
            try:
                writer.append(receipt, 0)
                outcomes[index] = stored(receipt["receipt_id"])
            except IntegrityError:
                outcomes[index] = "refused"

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(8)))
    assert outcomes == {0: "refused", **{i: True for i in range(1, 8)}}


def test_a_database_failure_reaches_every_caller_and_stores_nothing(app, tmp_path):
    from sqlalchemy import create_engine

    gone = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}")
    writer = GroupCommit(ledger, ledger.writer(gone))
    with pytest.raises(OperationalError):
        writer.append(record(), 0)


# --- the writer under group commit (consent_logs.writer) ---------------------------------

def test_rows_read_back_as_sqlalchemy_would_have_stored_them(app):
    """Dates and text go through the columns' own bind processors: the writer's rows are
    indistinguishable from rows SQLAlchemy inserts (SQLite keeps dates as text)."""
    receipt = record()
    row = ledger.row(receipt, 14)
    assert tuple(row) == ROW_COLUMNS
    ledger.writer(db.engine).write([row])
    with db.engine.connect() as conn:
        stored_row = conn.execute(select(ledger.t.records).where(
            ledger.t.records.c.receipt_id == receipt["receipt_id"])).one()._asdict()
    assert as_utc(stored_row["issued_at"]) == row["issued_at"]
    assert as_utc(stored_row["expires_at"]) == row["expires_at"]
    assert {k: stored_row[k] for k in ROW_COLUMNS if "_at" not in k} == \
        {k: row[k] for k in ROW_COLUMNS if "_at" not in k}


def test_a_batch_is_all_or_nothing(app):
    taken = record()
    writer = ledger.writer(db.engine)
    writer.write([ledger.row(taken, 0)])
    fresh = record()
    with pytest.raises(IntegrityError):
        writer.write([ledger.row(fresh, 0), ledger.row(taken, 0)])
    assert not stored(fresh["receipt_id"])
    writer.write([ledger.row(fresh, 0)])  # the connection is still good after a refusal
    assert stored(fresh["receipt_id"])


def test_the_writer_reconnects_after_the_engine_is_disposed(app):
    writer = ledger.writer(db.engine)
    writer.write([ledger.row(record(), 0)])
    db.engine.dispose()  # closes the writer's connection too
    again = record()
    writer.write([ledger.row(again, 0)])
    assert stored(again["receipt_id"])


# SQLite's write-ahead log flush (PostgreSQL commits durably, and sync has nothing to do)
sqlite_only = pytest.mark.parametrize("engine_name", ["sqlite"])


@sqlite_only
def test_sqlite_commits_leave_the_flush_to_sync_and_other_connections_stay_full(app):
    writer = ledger.writer(db.engine)
    writer.write([ledger.row(record(), 0)])
    own = writer._connection.execute("PRAGMA synchronous").fetchone()[0]
    with db.engine.connect() as conn:
        others = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (own, others) == (1, 2)  # NORMAL for the writer, FULL for everyone else


@sqlite_only
def test_one_flush_serves_every_write_before_it(app, monkeypatch):
    flushes = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (flushes.append(fd), real(fd)))
    writer = ledger.writer(db.engine)
    early = writer.write([ledger.row(record(), 0)])
    late = writer.write([ledger.row(record(), 0)])
    assert late > early
    writer.sync(late)
    writer.sync(early)  # covered by the flush after the later write: no second flush
    assert len(flushes) == 1
    third = writer.write([ledger.row(record(), 0)])
    writer.sync(third)  # written after the last flush began: flushed again
    assert len(flushes) == 2


@sqlite_only
def test_a_write_is_flushed_even_when_its_sequence_number_was_used_before(app, monkeypatch):
    """Erasure and the purge delete rows, and SQLite may hand the newest number out
    again: a flush must not be skipped for a number an earlier flush covered."""
    flushes = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (flushes.append(fd), real(fd)))
    writer = ledger.writer(db.engine)
    newest = record()
    writer.sync(writer.write([ledger.row(newest, 0)]))
    with db.engine.begin() as conn:
        conn.execute(ledger.t.records.delete().where(
            ledger.t.records.c.receipt_id == newest["receipt_id"]))
    writer.sync(writer.write([ledger.row(record(), 0)]))
    assert len(flushes) == 2


@sqlite_only
def test_a_failed_flush_fails_the_consent_with_a_503(client, shop, monkeypatch):
    site, version = shop

    def broken_disk(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken_disk)
    answer = client.post("/api/v1/consents", json={
        "site": site.key, "config_version": version.number, "action": "accept_all",
        "language": "en"}, headers={"Origin": "https://shop.example"})
    assert answer.status_code == 503 and answer.json["code"] == 503
    monkeypatch.undo()
    answer = client.post("/api/v1/consents", json={
        "site": site.key, "config_version": version.number, "action": "accept_all",
        "language": "en"}, headers={"Origin": "https://shop.example"})
    assert answer.status_code == 201
