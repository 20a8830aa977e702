"""Where the banner has been seen: the origins of the pages it asked visitors on, and the
few unregistered ones that asked for it and were refused. The console's answer to "is the
tag on your site?", per origin, with when.

Who could abuse it: anyone can send a banner request with any Origin header. A refused
origin is therefore kept only when it is a well-formed origin, for a site that exists, at
most MAX_REFUSED per site (the oldest makes way), at most one write a minute per site by
each process (decided before the database is touched, so rotating origins cannot make a
refused GET write), and shown as text, labelled as not registered and as something
anyone can cause."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from marshmallow import ValidationError

from cmp_server.platform.extensions import db
from cmp_server.sites.registry import normalise_origin
from cmp_server.models import BannerSighting, Site

MAX_REFUSED = 10
REFUSED_WRITE_SECONDS = 60
_refused_written: dict[str, float] = {}  # site -> when this process last wrote a refused origin


@dataclass(frozen=True)
class Sighting:
    origin: str
    last_seen: datetime | None  # None: not seen yet
    registered: bool


def saw(site_key: str, origin: str, now: datetime | None = None) -> None:
    """The banner asked a visitor on a page of ORIGIN (registered: the caller checked).
    Left for the caller to commit."""
    statement = _insert()(BannerSighting).values(
        site_key=site_key, origin=origin, last_seen=now or datetime.now(timezone.utc))
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["site_key", "origin"], set_={"last_seen": statement.excluded.last_seen}))


def refused(site_key: str, origin: str) -> None:
    """A page of ORIGIN, which the site did not register, asked for its banner."""
    try:
        if normalise_origin(origin) != origin or len(origin) > 255:
            return
    except ValidationError:
        return
    now = time.monotonic()
    if now - _refused_written.get(site_key, -REFUSED_WRITE_SECONDS) < REFUSED_WRITE_SECONDS:
        return
    if len(_refused_written) > 10_000:
        _refused_written.clear()
    _refused_written[site_key] = now
    site = db.session.execute(db.select(Site).where(Site.key == site_key)).scalar_one_or_none()
    if site is None:
        return
    registered = set(site.origin_list)
    kept = [row for row in _rows(site_key) if row.origin not in registered]
    if origin not in {row.origin for row in kept}:
        for row in kept[MAX_REFUSED - 1:]:  # newest first: make way for this one
            db.session.delete(row)
    saw(site_key, origin)
    db.session.commit()


def seen_on(site: Site) -> list[Sighting]:
    """Each registered origin with when the banner last asked there (or not yet), then
    the unregistered origins that asked for it, newest first."""
    rows = {row.origin: row.last_seen for row in _rows(site.key)}
    registered = [Sighting(origin, rows.get(origin), True) for origin in site.origin_list]
    strangers = [Sighting(origin, seen, False) for origin, seen in rows.items()
                 if origin not in site.origin_list]
    return registered + strangers


def _rows(site_key: str) -> list[BannerSighting]:
    return list(db.session.execute(db.select(BannerSighting).where(
        BannerSighting.site_key == site_key).order_by(BannerSighting.last_seen.desc())).scalars())


def _insert():
    return pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
