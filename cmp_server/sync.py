"""The site follows the ledger: how a change made without the visitor's browser reaches it.

The banner keeps the visitor's receipt token in a first-party cookie of the site, which
only the banner itself can update. When the ledger moves past that token some other way
(a change on /my-consent/, a server-side API call, an erasure), the receipt the cookie
holds is marked stale here. The banner configuration lists the first eight characters of
every stale receipt id of the site whose cookie may still exist (until the receipt's
expiry); a banner whose cookie names one of them asks for its subject's current state
(POST /api/v1/receipts/current) before it applies anything. So the configuration stays one
document per site, region and language, and an ordinary page view makes no second request.

Eight hex characters are 32 of a receipt id's 122 random bits: too few to find a receipt
by, and a chance of about one in four billion per stale receipt that a banner asks when it
need not (which costs only that request).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from cmp_server.cache import app_cache
from cmp_server.extensions import db
from cmp_server.models import LEDGER_TABLES, StaleReceipt

PREFIX_LENGTH = 8
STALE_CACHE_SECONDS = 1


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


def stale_prefixes(site_key: str) -> tuple[str, ...]:
    """The prefixes the site's banner configuration lists, cached per process for at most
    a second: a visitor who changes their choice and goes back to the site finds it
    applied."""
    seconds = min(STALE_CACHE_SECONDS, current_app.config["CMP_CACHE_SECONDS"])
    return app_cache("stale_receipts", seconds).get(site_key, lambda: _load_prefixes(site_key))


def _load_prefixes(site_key: str) -> tuple[str, ...]:
    ids = db.session.execute(
        select(StaleReceipt.receipt_id)
        .where(StaleReceipt.site_key == site_key,
               StaleReceipt.expires_at > datetime.now(timezone.utc))
    ).scalars()
    return tuple(sorted({receipt_id[:PREFIX_LENGTH] for receipt_id in ids}))


def purge_expired(now: datetime | None = None) -> int:
    """Forget stale marks whose receipts have expired (no cookie holds them any longer)."""
    result = db.session.execute(
        delete(StaleReceipt).where(StaleReceipt.expires_at <= (now or datetime.now(timezone.utc))))
    db.session.commit()
    return result.rowcount
