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


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months; the 31st becomes the last day of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
