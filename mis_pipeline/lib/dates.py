"""Shared date helpers: parsing for the connector normalisers, and today in England. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=100_000)
def iso_date(text: str) -> date:
    """`YYYY-MM-DD` → date, cached: dates of birth, admissions and session days repeat a great deal
    across a school's records, and parsing is on every record's path."""
    return date.fromisoformat(text)


LONDON = ZoneInfo("Europe/London")


def london_today(now: datetime | None = None) -> date:
    """Today in England: what a school's dates (subscription end, leaving dates) are measured in."""
    return (now or datetime.now(UTC)).astimezone(LONDON).date()


def as_utc(value):
    """A stored timestamp with its zone: SQLite hands timestamps back without one, and every
    timestamp we store is UTC. Anything else passes through unchanged."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def iso_utc(value: datetime | None) -> str | None:
    """A stored timestamp as ISO 8601 in UTC."""
    return None if value is None else as_utc(value).isoformat()


def london_date(value: datetime | None) -> date | None:
    """A stored timestamp's day in England."""
    return None if value is None else as_utc(value).astimezone(LONDON).date()


def uk_day(value: date) -> str:
    """A day as a reader in England writes it: `5 December 2026`."""
    return f"{value.day} {value:%B %Y}"


def uk_time(value: datetime) -> str:
    """A stored timestamp in UK time with the zone named (GMT or BST): `5 December 2026, 14:03 GMT`."""
    local = as_utc(value).astimezone(LONDON)
    return f"{uk_day(local)}, {local:%H:%M} {local.tzname()}"
