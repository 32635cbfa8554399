"""The shape of a data contract: one declaration per dataset, read by everything else.

Validation (through the pandera schema built here), consent scoping, encryption, subject access
reports and un-naming all read these declarations, so each fact about a column lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class PiiClass(str, Enum):
    DIRECT = "direct_identifier"  # names, UPN, DOB: encrypted at rest, removed when un-named
    QUASI = "quasi_identifier"  # sex, NC year, dates that narrow a pupil down
    NONE = "none"


class Scope(str, Enum):
    """The data items a school can grant or withhold (the agreement's wording)."""

    CORE = "core"
    ATTENDANCE = "attendance"
    ASSESSMENTS = "assessments"
    GROUPS = "groups"
    ADDITIONAL_DETAILS = "additional_details"


class Retention(str, Enum):
    NAMED = "named"  # removed 6 months after the pupil's trigger
    UNNAMED = "unnamed"  # kept un-named for audit, up to 5 years


@dataclass(frozen=True)
class Check:
    """A rule each non-null value of a column must meet; `accepts` says whether one does.
    `problem` is how a broken rule is reported to a school's data manager ("not AM/PM"): words
    they can act on in their MIS, never a value."""

    name: str
    description: str
    accepts: Callable[[Any], bool]
    problem: str = ""

    @property
    def wording(self) -> str:
        return self.problem or f"not {self.description}"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # string | date | datetime | bool | int
    description: str
    pii: PiiClass = PiiClass.NONE
    retention: Retention = Retention.NAMED
    nullable: bool = True
    max_length: int | None = None
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Contract:
    dataset: str
    description: str
    scope: Scope | None  # the data item that authorises it; None for our own records (audit)
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    version: int = 1
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({column.name: column for column in self.columns})

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def columns_with_pii(self, pii: PiiClass) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.pii is pii)
