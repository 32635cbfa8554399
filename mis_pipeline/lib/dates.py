"""Shared date parsing for the connector normalisers. Pure."""

from __future__ import annotations

from datetime import date
from functools import lru_cache


@lru_cache(maxsize=100_000)
def iso_date(text: str) -> date:
    """`YYYY-MM-DD` → date, cached: dates of birth, admissions and session days repeat a great deal
    across a school's records, and parsing is on every record's path."""
    return date.fromisoformat(text)
