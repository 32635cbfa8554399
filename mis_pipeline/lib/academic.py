"""The English school year: 1 September to 31 August (domain.md §2.2). Pure."""

from __future__ import annotations

from datetime import date


def academic_year_start(day: date) -> date:
    """1 September of the school year `day` falls in."""
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def academic_year_label(day: date) -> str:
    """The school year `day` falls in, as schools write it: "2026/27"."""
    start = academic_year_start(day).year
    return f"{start}/{(start + 1) % 100:02d}"
