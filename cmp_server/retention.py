"""The ledger's clock: remove records kept past their consent's end plus the longest
retention of the vendors they justify, leaving tombstones so every seal still verifies."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from consent_logs.ledger import Removal
from cmp_server.extensions import db
from cmp_server.models import ledger

PURGE_BATCH = 1000


@dataclass
class PurgeReport:
    scanned_total: int
    removed: list[Removal] = field(default_factory=list)
    dry_run: bool = False

    def by_cause(self) -> Counter:
        return Counter(e.reason.split(" ", 2)[1] for e in self.removed)


def purge(now: datetime | None = None, dry_run: bool = False,
          progress: Callable[[int, int], None] | None = None) -> PurgeReport:
    """Find and (unless ``dry_run``) remove expired records, a batch per transaction."""
    now = now or datetime.now(timezone.utc)
    conn = db.session.connection()
    report = PurgeReport(scanned_total=ledger.count(conn), dry_run=dry_run)
    pending: list[Removal] = []

    def flush():
        if not dry_run:
            ledger.replace_by_tombstones(db.session.connection(), pending, now)
            db.session.commit()
        report.removed.extend(pending)
        pending.clear()

    def scanned(count: int):
        if progress:
            progress(count, report.scanned_total)

    for expired in ledger.expired_records(conn, now, batch=PURGE_BATCH, progress=scanned):
        pending.append(expired)
        if len(pending) >= PURGE_BATCH:
            flush()
    flush()
    return report
