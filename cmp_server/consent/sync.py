"""The site follows the ledger: how a change made without the visitor's browser reaches it.

The banner keeps the visitor's receipt token in a first-party cookie of the site, which
only the banner itself can update. When the ledger moves past that token some other way
(a change on /my-consent/, a server-side API call, an erasure), the receipt the cookie
holds is marked stale here. The banner configuration lists the first eight characters of
the site's newest stale receipt ids whose cookies may still exist (until the receipt's
expiry); a banner whose cookie names one of them asks for its subject's current state
(POST /api/v1/receipts/current) before it applies anything. So the configuration stays one
document per site, region and language, and an ordinary page view makes no second request.

The list is bounded (MAX_LISTED), since anyone can make changes on /my-consent/: past it,
``stale_before`` says that a token made before that time may be stale too. Its banner
asks once and gets a token of now. A flood of changes thus costs visitors at worst that
one request, never a configuration that grows without end.

Eight hex characters are 32 of a receipt id's 122 random bits: too few to find a receipt
by, and a chance of about one in four billion per stale receipt that a banner asks when it
need not (which costs only that request).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from consent_logs.timeutil import as_utc
from cmp_server.platform.cache import app_cache
from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, StaleReceipt

PREFIX_LENGTH = 8
STALE_CACHE_SECONDS = 1
MAX_LISTED = 1000  # about 11 KB of the configuration, 5 KB gzipped


def mark_stale(site_key: str, receipt_ids: Iterable[str | None]) -> None:
    """Mark receipts of the site whose tokens a browser may still hold as stale; each is
    kept until its own expiry (then no cookie can hold it)."""
    wanted = {r for r in receipt_ids if r}
    if not wanted:
        return
    records = LEDGER_TABLES.records
    rows = db.session.execute(
        select(records.c.receipt_id, records.c.expires_at)
        .where(records.c.site == site_key, records.c.receipt_id.in_(wanted))
    ).all()
    known = set(db.session.execute(
        select(StaleReceipt.receipt_id).where(StaleReceipt.receipt_id.in_(wanted))).scalars())
    db.session.add_all(StaleReceipt(receipt_id=row.receipt_id, site_key=site_key,
                                    expires_at=row.expires_at)
                       for row in rows if row.receipt_id not in known)
    try:
        db.session.commit()
    except IntegrityError:  # marked by a concurrent request meanwhile: marked either way
        db.session.rollback()


@dataclass(frozen=True)
class StaleList:
    """What the banner configuration says of a site's stale receipts: ``members`` is the
    JSON of its last members (``,"stale":[...],"stale_before":...``), ``tag`` a short
    digest of them for the ETag."""

    members: bytes
    tag: str


def stale_list(site_key: str) -> StaleList:
    """The site's stale receipts as the banner configuration lists them, cached per
    process for at most a second: a visitor who changes their choice and goes back to the
    site finds it applied."""
    seconds = min(STALE_CACHE_SECONDS, current_app.config["CMP_CACHE_SECONDS"])
    return app_cache("stale_receipts", seconds).get(site_key, lambda: _load(site_key))


def _load(site_key: str) -> StaleList:
    """The newest MAX_LISTED marks. Beyond them, ``stale_before`` covers the rest: every
    receipt left out was marked at or before it, so its token was made before it (a stale
    receipt's token is never handed out again), and a banner whose token is older asks."""
    rows = db.session.execute(
        select(StaleReceipt.receipt_id, StaleReceipt.marked_at)
        .where(StaleReceipt.site_key == site_key,
               StaleReceipt.expires_at > datetime.now(timezone.utc))
        .order_by(StaleReceipt.marked_at.desc()).limit(MAX_LISTED + 1)
    ).all()
    prefixes = sorted({row.receipt_id[:PREFIX_LENGTH] for row in rows[:MAX_LISTED]})
    before = None
    if len(rows) > MAX_LISTED:
        # epoch milliseconds, as the tokens' t: a token made at or before the mark may be stale
        before = int(as_utc(rows[MAX_LISTED].marked_at).timestamp() * 1000) + 1
    members = json.dumps({"stale": prefixes, "stale_before": before}, separators=(",", ":"))
    encoded = ("," + members[1:-1]).encode("ascii")
    return StaleList(encoded, hashlib.sha256(encoded).hexdigest()[:12])


def purge_expired(now: datetime | None = None) -> int:
    """Forget stale marks whose receipts have expired (no cookie holds them any longer)."""
    result = db.session.execute(
        delete(StaleReceipt).where(StaleReceipt.expires_at <= (now or datetime.now(timezone.utc))))
    db.session.commit()
    return result.rowcount
