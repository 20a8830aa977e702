"""The ledger's clock: remove records kept past their consent's end plus the longest
retention of the vendors they justify, leaving tombstones so every seal still verifies."""
from __future__ import annotations

import time
from collections import Counter
from contextlib import closing
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from threading import Event
from typing import Callable

from sqlalchemy import Engine

from consent_logs.ledger import Removal
from consent_logs.timeutil import as_utc
from cmp_server.platform.extensions import db
from cmp_server.models import ledger

# Removals per write transaction on SQLite: the first batch, and the fewest. Each write holds
# SQLite's write lock (consent POSTs wait for it, up to busy_timeout, 5 s), yet small
# batches rewrite the same index pages over and over (5,000 at a time took twice as long
# as one transaction for 200,000 scattered records: bench/README.md). So the batch grows
# to what its database writes in about WRITE_SECONDS, at most MOST_REMOVALS at a time.
# PostgreSQL locks only the rows a batch removes, so nothing waits for a batch but an
# erasure of one of them: there every batch is MOST_REMOVALS (small ones cost the server a
# third more work in all).
PURGE_BATCH = 5_000
MOST_REMOVALS = 100_000
WRITE_SECONDS = 2.0


@dataclass
class PurgeReport:
    """Counts only: a purge of millions of records must not hold them in memory."""

    removed: int = 0
    causes: Counter = field(default_factory=Counter)
    dry_run: bool = False

    def by_cause(self) -> Counter:
        return self.causes

    def add(self, removals: list[Removal], writer: "RemovalWriter") -> None:
        """Count a batch, and have it written unless this is a dry run."""
        if removals and not self.dry_run:
            writer.submit(removals)
        self.removed += len(removals)
        self.causes.update(cause_of(r) for r in removals)


def cause_of(removal: Removal) -> str:
    return removal.reason.split(" ", 2)[1]  # "retention: expired 2025-01-01, ..."


def next_batch(size: int, seconds: float) -> int:
    """How many removals to write next, after ``size`` took ``seconds``: as many as fit in
    about WRITE_SECONDS, growing at most fourfold at a time."""
    fitting = int(size * WRITE_SECONDS / max(seconds, 0.001))
    return max(PURGE_BATCH, min(fitting, 4 * size, MOST_REMOVALS))


class RemovalWriter:
    """Writes batches of removals, each in a transaction of its own, from a thread of its
    own: the scan judges the next batch on one core while the database writes this one
    (sqlite3 and psycopg let go of the interpreter while the database works). At most one
    batch is being written while the next fills, so memory holds two at most."""

    def __init__(self, engine: Engine, now: datetime):
        self.engine, self.now = engine, now
        self.sized_by_time = engine.dialect.name == "sqlite"
        # how many the next batch should hold
        self.batch = PURGE_BATCH if self.sized_by_time else MOST_REMOVALS
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="purge-writer")
        self.writing: Future | None = None

    def submit(self, removals: list[Removal]) -> None:
        self.wait()
        self.writing = self.thread.submit(self._write, removals)

    def wait(self) -> None:
        """Until the batch being written is written (its failure is raised here)."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            self.batch = writing.result()

    def _write(self, removals: list[Removal]) -> int:
        started = time.monotonic()
        with self.engine.begin() as conn:
            ledger.replace_by_tombstones(conn, removals, self.now)
        if self.sized_by_time:
            return next_batch(len(removals), time.monotonic() - started)
        return MOST_REMOVALS

    def __enter__(self) -> "RemovalWriter":
        return self

    def __exit__(self, *_exc) -> None:
        try:
            self.wait()
        finally:
            self.thread.shutdown()


def purge(now: datetime | None = None, dry_run: bool = False,
          progress: Callable[[int, int], None] | None = None) -> PurgeReport:
    """Find and (unless ``dry_run``) remove expired records, a batch per transaction.

    The scan reads on its own connection while each batch of removals commits on another
    (RemovalWriter), so neither waits for the other and memory holds two batches at most.
    Removing a record never changes how a record not yet judged is judged: the scan goes
    in ledger order, and a record's consent end depends only on later records.

    Once its removals have committed, a purge leaves a mark of what it judged (the sealing
    position before it began, ``now`` and the retentions its records hold); the next purge
    judges again only the records whose consent may have ended since
    (Ledger.expired_records)."""
    now = as_utc(now) if now else datetime.now(timezone.utc)
    out_of_order = Event()  # set when a removal may bring an earlier record's end earlier
    db.session.commit()  # whatever the caller's session holds, it must not block the writer
    with db.engine.connect() as reader, RemovalWriter(db.engine, now) as writer:
        report = PurgeReport(dry_run=dry_run)
        since = ledger.purge_mark(reader)
        if since is not None and not ledger.worth_relying_on(reader, since, now):
            since = None
        judged = ledger.judging_mark(reader, now, since)
        last = ledger.last_seq(reader)
        reached = [0]

        def scanned(seq: int):  # how far through the ledger, by sequence number
            reached[0] = seq
            if progress:
                progress(seq, last)

        pending: list[Removal] = []
        # closed explicitly, so its reading thread is done with ``reader`` however this ends
        with closing(ledger.expired_records(reader, now, progress=scanned, since=since,
                                            months=judged.months,
                                            out_of_order=out_of_order.set)) as expired:
            for removal in expired:
                pending.append(removal)
                if len(pending) >= writer.batch:
                    report.add(pending, writer)
                    pending = []
        report.add(pending, writer)
        if progress and reached[0] != last:
            progress(last, last)  # the scan's end (records after its last candidate)
    if not dry_run:  # every batch has committed (the writer's exit waited for the last)
        with db.engine.begin() as conn:
            if out_of_order.is_set():
                ledger.forget_purge_mark(conn)
            else:
                ledger.mark_purged(conn, judged)
    return report
