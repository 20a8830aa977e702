"""UTC timestamps as the ledger writes them, and calendar-month arithmetic."""
from __future__ import annotations

import calendar
from datetime import datetime, timezone


def utc_iso(moment: datetime) -> str:
    """``2026-11-24T05:40:00Z``: seconds precision, always UTC, one spelling."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything in the ledger is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def stored_moment(value: datetime | str) -> datetime:
    """A timestamp column read without SQLAlchemy's conversion, in UTC: SQLite's driver
    hands back its stored text, PostgreSQL's a datetime."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def stored_naive_utc(value: datetime | str) -> datetime:
    """``stored_moment`` without its time zone, for comparing hundreds of thousands of
    them cheaply (attaching one cost more than parsing the text)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)  # SQLite's text is UTC without an offset
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months; the 31st becomes the last day of a shorter month."""
    if not months:
        return moment
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
