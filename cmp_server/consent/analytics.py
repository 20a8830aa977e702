"""Consent analytics per site and period: how visitors chose, what they granted, and how
many saw the banner without choosing. Computed from the ledger itself (records erased or
past retention no longer count) and from per-day impression counters."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cmp_server.platform.extensions import db
from cmp_server.models import LEDGER_TABLES, BannerImpression

CHOICES = ("accept_all", "reject_all", "custom", "gpc")


def count_impression(site_key: str, today: date | None = None) -> None:
    """One more showing of the banner today: a single upsert, no visitor data."""
    dialect = db.engine.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(BannerImpression).values(
        site_key=site_key, day=today or datetime.now(timezone.utc).date(), count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["site_key", "day"], set_={"count": BannerImpression.count + 1})
    db.session.execute(statement)
    db.session.commit()


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def site_analytics(site_key: str, start: datetime, end: datetime) -> dict[str, Any]:
    records = LEDGER_TABLES.records
    rows = db.session.connection().execution_options(yield_per=2000).execute(
        select(records.c.data).where(records.c.site == site_key, records.c.issued_at >= start,
                                     records.c.issued_at < end))
    actions: Counter = Counter()
    purposes: Counter = Counter()
    vendors: Counter = Counter()
    offered_purposes: Counter = Counter()
    offered_vendors: Counter = Counter()
    first_choices = 0
    for (data,) in rows:
        record = json.loads(data)
        actions[record["action"]] += 1
        if record["action"] == "withdraw":
            continue
        first_choices += record["previous_receipt_id"] is None
        for pid, granted in record["purposes"].items():
            offered_purposes[pid] += 1
            purposes[pid] += granted
        for vid, granted in record["vendors"].items():
            offered_vendors[vid] += 1
            vendors[vid] += granted
    impressions = db.session.execute(
        select(func.coalesce(func.sum(BannerImpression.count), 0))
        .where(BannerImpression.site_key == site_key, BannerImpression.day >= start.date(),
               BannerImpression.day < end.date())
    ).scalar_one()
    choices = sum(actions[a] for a in CHOICES)
    no_choice = max(impressions - first_choices, 0)
    return {
        "site": site_key,
        "from": start.date().isoformat(),
        "to": end.date().isoformat(),
        "choices": choices,
        "withdrawals": actions["withdraw"],
        "actions": {a: actions[a] for a in CHOICES},
        "rates": {a: share(actions[a], choices) for a in CHOICES},
        "purposes": {p: share(purposes[p], n) for p, n in sorted(offered_purposes.items())},
        "vendors": {v: share(vendors[v], n) for v, n in sorted(offered_vendors.items())},
        "impressions": impressions,
        "first_choices": first_choices,
        "no_choice": no_choice,
        "no_choice_rate": share(no_choice, impressions),
    }


def bar_chart(analytics: dict[str, Any]) -> str:
    """The analytics as an SVG picture (server-made, no script): one bar per rate."""
    bars = [(f"{a.replace('_', ' ')}", analytics["rates"][a]) for a in CHOICES]
    bars.append(("saw, did not choose", analytics["no_choice_rate"]))
    bars += [(f"purpose: {p}", rate) for p, rate in analytics["purposes"].items()]
    width, row, label_width = 640, 26, 210
    height = row * len(bars) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="Consent rates" font-family="system-ui, sans-serif" '
             f'font-size="13">']
    for index, (label, rate) in enumerate(bars):
        y = 5 + index * row
        length = int((width - label_width - 60) * rate)
        parts.append(f'<text x="0" y="{y + 16}" fill="#1f2328">{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{length}" height="18" '
                     f'fill="#1d4ed8"><title>{escape(label)}: {rate:.1%}</title></rect>')
        parts.append(f'<text x="{label_width + length + 6}" y="{y + 16}" fill="#1f2328">'
                     f'{rate:.1%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))
