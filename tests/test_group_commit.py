"""Concurrent appends share durable commits, and each caller returns only once its own
record is committed (consent_logs.group_commit), on SQLite and on PostgreSQL."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from consent_logs.group_commit import GroupCommit
from cmp_server.extensions import db, serialised_writes
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


def count_commits(engine) -> list[int]:
    commits = [0]
    event.listen(engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    return commits


def test_concurrent_appends_share_commits_and_return_only_when_committed(app):
    writer = GroupCommit(ledger, lambda autocommit: serialised_writes(db.engine, autocommit))
    commits = count_commits(db.engine)
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
    assert commits[0] < 160  # some flushes served several records


def test_a_bad_record_fails_alone(app):
    writer = GroupCommit(ledger, lambda autocommit: serialised_writes(db.engine, autocommit))
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
    writer = GroupCommit(ledger, lambda autocommit: gone.begin())
    with pytest.raises(OperationalError):
        writer.append(record(), 0)
