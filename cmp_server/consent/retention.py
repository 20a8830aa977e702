"""The ledger's clock: remove records kept past their consent's end plus the longest
retention of the vendors they justify, leaving tombstones so every seal still verifies."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from consent_logs.ledger import Removal
from cmp_server.platform.extensions import db
from cmp_server.models import ledger

PURGE_BATCH = 5_000


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

        def flush():
            if pending and not dry_run:
                with db.engine.begin() as writer:
                    ledger.replace_by_tombstones(writer, pending, now)
            report.removed += len(pending)
            report.causes.update(cause_of(r) for r in pending)
            pending.clear()

        last = ledger.last_seq(reader)

        reached = [0]

        def scanned(seq: int):  # how far through the ledger, by sequence number
            reached[0] = seq
            if progress:
                progress(seq, last)

        for expired in ledger.expired_records(reader, now, batch=PURGE_BATCH, progress=scanned):
            pending.append(expired)
            if len(pending) >= PURGE_BATCH:
                flush()
        flush()
        if progress and reached[0] != last:
            progress(last, last)  # the scan's end (records after its last candidate)
    return report
