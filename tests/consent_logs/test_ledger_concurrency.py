"""Several processes record consents while another keeps sealing: every acknowledged
record ends up in exactly one seal and the whole chain verifies, on both engines."""
from __future__ import annotations

import multiprocessing

import pytest

from sqlalchemy import func, select

from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, ledger
from cmp_server.consent.sealing import seal_now, signing_key
from tests.support import ledger_workers

WRITERS = 3
PER_WRITER = 80


def test_concurrent_writers_and_sealers_never_corrupt_a_seal(shop, database_url, instance_path):
    site, _ = shop
    db.session.commit()
    expected = WRITERS * PER_WRITER
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS + 2) as pool:
        sealers = [pool.apply_async(ledger_workers.keep_sealing,
                                    (database_url, str(instance_path), expected, 180))
                   for _ in range(2)]  # two sealers racing each other as well
        writers = [pool.apply_async(ledger_workers.write_consents,
                                    (database_url, str(instance_path), site.key, PER_WRITER))
                   for _ in range(WRITERS)]
        acknowledged = {rid for w in writers for rid in w.get(timeout=180)}
        seals_made = sum(s.get(timeout=200) for s in sealers)

    assert len(acknowledged) == expected
    seal_now(batch_size=1000)  # nothing may be left over
    conn = db.session.connection()
    assert ledger.verify(conn) == expected
    stored = set(conn.execute(select(LEDGER_TABLES.records.c.receipt_id)).scalars())
    assert stored == acknowledged
    members = conn.execute(select(func.count()).select_from(LEDGER_TABLES.seal_members)).scalar_one()
    assert members == expected
    # the sealers really ran while records were being written
    assert seals_made > 3


def test_a_record_that_commits_after_a_later_one_is_still_sealed(recorded_copy):
    """Sealing keeps its position (it never rescans the ledger), so a record must never
    commit below a record already sealed. On PostgreSQL a sequence number is handed out
    before commit: here a slow writer takes a number, a fast one takes the next and commits,
    and a sealer runs meanwhile. The slow record must still be sealed, with the fast one."""
    import threading

    first, make = recorded_copy
    slow, fast = make(), make()
    engine, key = db.engine, signing_key()
    if db.engine.dialect.name != "postgresql":
        return one_writer_at_a_time(slow, fast)
    with db.engine.connect() as slow_writer:
        slow_writer.begin()
        ledger.append(slow_writer, slow, 0)  # takes its number, does not commit yet
        with db.engine.begin() as fast_writer:
            ledger.append(fast_writer, fast, 0)
        sealed = []
        sealer = threading.Thread(target=lambda: sealed.extend(ledger.seal(engine, key, 100)))
        sealer.start()
        sealer.join(0.5)
        assert sealer.is_alive()  # it waits for the slow writer
        slow_writer.commit()
    sealer.join(30)
    assert [s.record_count for s in sealed] == [3]
    seal_now(batch_size=100)  # a later run seals whatever that one left
    conn = db.session.connection()
    assert ledger.verify(conn) == 3
    members = conn.execute(select(func.count()).select_from(LEDGER_TABLES.seal_members)).scalar_one()
    assert members == 3  # none skipped, none sealed twice


def test_sealers_of_different_batch_sizes_racing_each_other_all_finish(recorded_copy):
    """On PostgreSQL a sealer writes the next seal while the one before it is in flight.
    Racing sealers whose batches overlap unevenly can then wait for each other in a cycle
    that runs through a sealer's own two seals: it must end (a bounded wait, retried),
    never hang, and every record still goes into exactly one seal."""
    import threading
    import time

    _, make = recorded_copy
    with db.engine.begin() as writer:
        for _ in range(400):
            ledger.append(writer, make(), 0)
    engine, key = db.engine, signing_key()
    made: list[int] = []
    errors: list[Exception] = []

    def seal(size: int) -> None:
        try:
            made.extend(s.record_count for s in ledger.seal(engine, key, size))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    sealers = [threading.Thread(target=seal, args=(size,)) for size in (3, 10, 64, 10)]
    for sealer in sealers:
        sealer.start()
    deadline = time.monotonic() + 60
    for sealer in sealers:
        sealer.join(max(0.0, deadline - time.monotonic()))
    assert not any(sealer.is_alive() for sealer in sealers)
    assert errors == []
    assert sum(made) == 401  # each record sealed by one sealer, once
    conn = db.session.connection()
    assert ledger.verify(conn) == 401
    members = conn.execute(select(func.count()).select_from(LEDGER_TABLES.seal_members)).scalar_one()
    assert members == 401


def one_writer_at_a_time(slow: dict, fast: dict) -> None:
    """SQLite's guarantee of the same: a writer with a record not yet committed holds the
    write lock, so the fast writer waits for it, and commits above it."""
    import threading

    engine = db.engine  # the thread has no application context

    def append_and_commit(record):
        with engine.begin() as writer:
            ledger.append(writer, record, 0)

    with engine.connect() as slow_writer:
        slow_writer.begin()
        ledger.append(slow_writer, slow, 0)
        fast_writer = threading.Thread(target=append_and_commit, args=(fast,))
        fast_writer.start()
        fast_writer.join(0.5)
        assert fast_writer.is_alive()  # it waits for the slow writer
        slow_writer.commit()
    fast_writer.join(30)
    assert not fast_writer.is_alive()
    seqs = dict(db.session.connection().execute(select(
        LEDGER_TABLES.records.c.receipt_id, LEDGER_TABLES.records.c.seq)).all())
    assert seqs[slow["receipt_id"]] < seqs[fast["receipt_id"]]
    seal_now(batch_size=100)
    assert ledger.verify(db.session.connection()) == 3


@pytest.fixture
def recorded_copy(shop):
    """One real record, and a maker of copies with a receipt id of their own."""
    import uuid

    from cmp_server.consent.receipts import record_consent

    site, version = shop
    record = record_consent({"site": site.key, "config_version": version.number,
                             "action": "accept_all", "language": "en"}, None,
                            "https://shop.example").receipt
    db.session.commit()

    def make():
        return {**record, "receipt_id": str(uuid.uuid4()), "previous_receipt_id": None,
                "subject_id": uuid.uuid4().hex}

    return record, make
