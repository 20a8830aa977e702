"""Consent analytics per site and period: how visitors chose, what they granted, and how
many saw the banner without choosing. Computed from the ledger itself (records erased or
past retention no longer count) and from per-day impression counters."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cmp_server.platform.extensions import db
from cmp_server.sites import sightings
from cmp_server.models import LEDGER_TABLES, BannerImpression

CHOICES = ("accept_all", "reject_all", "custom", "gpc")


def count_impression(site_key: str, origin: str | None = None, today: date | None = None) -> None:
    """One more showing of the banner today (a single upsert, no visitor data), and when
    it was last seen on ORIGIN (a registered one)."""
    dialect = db.engine.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(BannerImpression).values(
        site_key=site_key, day=today or datetime.now(timezone.utc).date(), count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["site_key", "day"], set_={"count": BannerImpression.count + 1})
    db.session.execute(statement)
    if origin:
        sightings.saw(site_key, origin)
    db.session.commit()


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def site_analytics(site_key: str, start: datetime, end: datetime) -> dict[str, Any]:
    records = LEDGER_TABLES.records
    rows = db.session.connection().execution_options(yield_per=2000).execute(
        select(records.c.data).where(records.c.site == site_key, records.c.issued_at >= start,
                                     records.c.issued_at < end))
    actions: Counter = Counter()
    daily: dict[str, Counter] = {}
    purposes: Counter = Counter()
    vendors: Counter = Counter()
    offered_purposes: Counter = Counter()
    offered_vendors: Counter = Counter()
    first_choices = 0
    for (data,) in rows:
        record = json.loads(data)
        actions[record["action"]] += 1
        daily.setdefault(record["issued_at"][:10], Counter())[record["action"]] += 1
        if record["action"] == "withdraw":
            continue
        first_choices += record["previous_receipt_id"] is None
        for pid, granted in record["purposes"].items():
            offered_purposes[pid] += 1
            purposes[pid] += granted
        for vid, granted in record["vendors"].items():
            offered_vendors[vid] += 1
            vendors[vid] += granted
    shown = dict(db.session.execute(
        select(BannerImpression.day, BannerImpression.count)
        .where(BannerImpression.site_key == site_key, BannerImpression.day >= start.date(),
               BannerImpression.day < end.date())).all())
    impressions = sum(shown.values())
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
        "days": days(daily, {day.isoformat(): n for day, n in shown.items()}),
    }


def days(daily: dict[str, Counter], shown: dict[str, int]) -> list[dict[str, Any]]:
    """Each day with a showing or a choice, in order: the banner shown, and the choices by
    action."""
    return [day_figures(day, daily.get(day, Counter()), shown.get(day, 0))
            for day in sorted(set(daily) | set(shown))]


def day_figures(day: str, counts: Counter, shown: int) -> dict[str, Any]:
    return {"day": day, "shown": shown, "choices": sum(counts[a] for a in CHOICES),
            **{a: counts[a] for a in CHOICES}, "withdrawals": counts["withdraw"]}


def every_day(analytics: dict[str, Any], start: date, end: date) -> list[dict[str, Any]]:
    """The period's days, each of them, those without figures as zeros."""
    known = {d["day"]: d for d in analytics["days"]}
    found, day = [], start
    while day < end:
        found.append(known.get(day.isoformat()) or day_figures(day.isoformat(), Counter(), 0))
        day += timedelta(days=1)
    return found


LABELS = {"accept_all": "Accepted all", "reject_all": "Rejected all", "custom": "Chose in the settings",
          "gpc": "Global Privacy Control"}
COLOURS = {"accept_all": "#1d4ed8", "reject_all": "#b42318", "custom": "#7a4b00", "gpc": "#116329"}
TEXT = "#1f2328"


def percent(rate: float) -> str:
    """The console's one way of writing a share."""
    return f"{rate * 100:.1f}%"


def svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
            f'font-family="system-ui, sans-serif" font-size="13">' + "".join(body) + "</svg>")


def choice_mix(analytics: dict[str, Any]) -> str:
    """How visitors chose: one bar of 100%, a segment per way of choosing, and a legend."""
    width, body, x = 640, [], 0.0
    for action in CHOICES:
        rate = analytics["rates"][action]
        length = (width - 2) * rate
        if length:
            body.append(f'<rect x="{x + 1:.1f}" y="4" width="{length:.1f}" height="28" '
                        f'fill="{COLOURS[action]}"><title>{LABELS[action]}: '
                        f'{percent(rate)}</title></rect>')
        x += length
    for index, action in enumerate(CHOICES):
        y = 52 + index * 22
        body.append(f'<rect x="1" y="{y - 11}" width="12" height="12" fill="{COLOURS[action]}"/>')
        body.append(f'<text x="20" y="{y}" fill="{TEXT}">{LABELS[action]}: '
                    f'{percent(analytics["rates"][action])} '
                    f'({analytics["actions"][action]})</text>')
    return svg(width, 52 + 22 * len(CHOICES) - 8, "How visitors chose", body)


def bars(rows: list[tuple[str, float, str]], label: str, colour: str = "#1d4ed8") -> str:
    """Horizontal bars, each (label, length from 0 to 1, the figure written beside it)."""
    width, row, label_width = 640, 26, 230
    body = []
    for index, (name, length, figure) in enumerate(rows):
        y = 5 + index * row
        size = int((width - label_width - 80) * length)
        body.append(f'<text x="0" y="{y + 16}" fill="{TEXT}">{escape(name)}</text>')
        body.append(f'<rect x="{label_width}" y="{y + 3}" width="{size}" height="18" '
                    f'fill="{colour}"><title>{escape(name)}: {figure}</title></rect>')
        body.append(f'<text x="{label_width + size + 6}" y="{y + 16}" fill="{TEXT}">{figure}</text>')
    return svg(width, row * len(rows) + 10, label, body)


def reach(analytics: dict[str, Any]) -> str:
    """How far the banner got: shown, answered on a first visit, left without a choice."""
    shown = analytics["impressions"] or 1
    rows = [("Banner shown", analytics["impressions"]),
            ("Chose on a first visit", analytics["first_choices"]),
            ("Left without choosing", analytics["no_choice"])]
    return bars([(name, min(n / shown, 1), f"{n:,}") for name, n in rows], "Banner reach")


def grant_rates(rates: dict[str, float], names: dict[str, str], label: str) -> str:
    return bars([(names.get(key, key), rate, percent(rate)) for key, rate in rates.items()], label,
                "#116329")


def trend(days: list[dict[str, Any]]) -> str:
    """Each day (every_day): the banner shown (light) and choices made (dark), as columns."""
    width, height, top = 640, 160, max([max(d["shown"], d["choices"]) for d in days] + [1])
    step = width / max(len(days), 1)
    body = [f'<line x1="0" y1="{height - 20}" x2="{width}" y2="{height - 20}" stroke="#d4d9de"/>']
    for index, d in enumerate(days):
        x = index * step
        for value, offset, colour, what in ((d["shown"], 0.1, "#9cbcff", "shown"),
                                            (d["choices"], 0.5, "#1d4ed8", "choices")):
            size = (height - 40) * value / top
            body.append(f'<rect x="{x + step * offset:.1f}" y="{height - 20 - size:.1f}" '
                        f'width="{step * 0.4:.1f}" height="{size:.1f}" fill="{colour}">'
                        f'<title>{d["day"]}: {value:,} {what}</title></rect>')
    first, last = (days[0]["day"], days[-1]["day"]) if days else ("", "")
    body.append(f'<text x="0" y="{height - 4}" fill="{TEXT}">{first}</text>')
    body.append(f'<text x="{width}" y="{height - 4}" fill="{TEXT}" text-anchor="end">{last}</text>')
    body.append(f'<text x="0" y="12" fill="{TEXT}">most in a day: {top:,}</text>')
    return svg(width, height, "Banner shown and choices per day", body)


CSV_COLUMNS = ("day", "shown", "choices", *CHOICES, "withdrawals")


def daily_csv(days: list[dict[str, Any]]) -> str:
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(str(d[c]) for c in CSV_COLUMNS) for d in days]
    return "\n".join(lines) + "\n"


def escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))
