"""Checks used by contracts. Each judges one non-null value; pandera applies them element-wise."""

from __future__ import annotations

import time
from datetime import date
from functools import lru_cache

from dateutil.relativedelta import relativedelta

from data_contracts.model import Check
from mis_pipeline.lib.upn import is_valid_upn

NC_YEARS = frozenset({"E1", "E2", "N1", "N2", "R", "X", *(str(year) for year in range(1, 15))})
SEXES = frozenset({"M", "F"})


def upn_check_letter(column: str) -> Check:
    return Check(
        name=f"{column}_check_letter",
        description="13 characters with a valid DfE check letter (UPN guide, Annex A)",
        accepts=is_valid_upn,
        problem="not a valid UPN (13 characters, DfE check letter)",
    )


def one_of(name: str, allowed: frozenset[str], description: str, problem: str = "") -> Check:
    return Check(name=name, description=description, accepts=allowed.__contains__, problem=problem)


@lru_cache(maxsize=8)
def _latest_on(epoch_day: int, years_ahead: int) -> date:
    today = date.today()
    return today + relativedelta(years=years_ahead)


def _latest(years_ahead: int) -> date:
    # Keyed by the epoch day so the bound moves at midnight without a date.today() per value.
    return _latest_on(int(time.time() // 86400), years_ahead)


def date_between(name: str, earliest: date, latest_years_ahead: int = 0) -> Check:
    """Dates on or after `earliest` and no later than `latest_years_ahead` years from today."""

    def accepts(value: date) -> bool:
        return earliest <= value <= _latest(latest_years_ahead)

    ahead = "in the future" if latest_years_ahead == 0 else f"more than {latest_years_ahead} year(s) ahead"
    return Check(
        name=name,
        description=f"a plausible date: from {earliest.isoformat()} to {latest_years_ahead} years ahead",
        accepts=accepts,
        problem=f"not a plausible date (before {earliest.isoformat()} or {ahead})",
    )


# DfE session codes from 19 August 2024 (domain.md §4), the pre-2024 codes a history still holds
# (H, Y, J), and the MIS pseudo-marks "-" (no mark yet) and "#" (planned closure).
ATTENDANCE_MARKS = frozenset(
    {
        "/",
        "\\",
        "L",
        "K",
        "V",
        "P",
        "W",
        "B",
        "D",
        "C",
        "C1",
        "C2",
        "M",
        "J1",
        "S",
        "R",
        "T",
        "I",
        "E",
        "G",
        "N",
        "O",
        "U",
        "X",
        "Q",
        "Y1",
        "Y2",
        "Y3",
        "Y4",
        "Y5",
        "Y6",
        "Y7",
        "Z",
        "#",
        "-",
        "H",
        "Y",
        "J",
    }
)
SESSIONS = frozenset({"AM", "PM"})
SEN_CODES = frozenset({"N", "K", "E"})
GROUP_TYPES = frozenset({"year", "registration", "house", "teaching"})
