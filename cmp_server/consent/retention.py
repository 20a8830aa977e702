"""The ledger's clock: remove records kept past their consent's end plus the longest
retention of the vendors they justify, leaving tombstones so every seal still verifies."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from consent_logs.ledger import Removal
from cmp_server.platform.extensions import db
from cmp_server.models import ledger

# Removals per write transaction: the first batch, and the fewest. Each write holds
# SQLite's write lock (consent POSTs wait for it, up to busy_timeout, 5 s), yet small
# batches rewrite the same index pages over and over (5,000 at a time took twice as long
# as one transaction for 200,000 scattered records: bench/README.md). So the batch grows
# to what its database writes in about WRITE_SECONDS, at most MOST_REMOVALS at a time.
PURGE_BATCH = 5_000
MOST_REMOVALS = 100_000
WRITE_SECONDS = 2.0


@dataclass
class PurgeReport:
    """Counts only: a purge of millions of records must not hold them in memory."""

    scanned_total: int
    removed: int = 0
    causes: Counter = field(default_factory=Counter)
    dry_run: bool = False

    def by_cause(self) -> Counter:
        return self.causes


def cause_of(removal: Removal) -> str:
    return removal.reason.split(" ", 2)[1]  # "retention: expired 2025-01-01, ..."


def next_batch(size: int, seconds: float) -> int:
    """How many removals to write next, after ``size`` took ``seconds``: as many as fit in
    about WRITE_SECONDS, growing at most fourfold at a time."""
    fitting = int(size * WRITE_SECONDS / max(seconds, 0.001))
    return max(PURGE_BATCH, min(fitting, 4 * size, MOST_REMOVALS))


def purge(now: datetime | None = None, dry_run: bool = False,
          progress: Callable[[int, int], None] | None = None) -> PurgeReport:
    """Find and (unless ``dry_run``) remove expired records, a batch per transaction.

    The scan reads on its own connection while each batch of removals commits on another,
    so neither waits for the other and memory holds one batch at most."""
    now = now or datetime.now(timezone.utc)
    db.session.commit()  # whatever the caller's session holds, it must not block the writer
    with db.engine.connect() as reader:
        report = PurgeReport(scanned_total=ledger.count(reader), dry_run=dry_run)
        pending: list[Removal] = []
        batch = PURGE_BATCH

        def flush():
            nonlocal batch
            if pending and not dry_run:
                started = time.monotonic()
                with db.engine.begin() as writer:
                    ledger.replace_by_tombstones(writer, pending, now)
                batch = next_batch(len(pending), time.monotonic() - started)
            report.removed += len(pending)
            report.causes.update(cause_of(r) for r in pending)
            pending.clear()

        last = ledger.last_seq(reader)

        reached = [0]

        def scanned(seq: int):  # how far through the ledger, by sequence number
            reached[0] = seq
            if progress:
                progress(seq, last)

        for expired in ledger.expired_records(reader, now, progress=scanned):
            pending.append(expired)
            if len(pending) >= batch:
                flush()
        flush()
        if progress and reached[0] != last:
            progress(last, last)  # the scan's end (records after its last candidate)
    return report
