"""What a subject access report holds, shared by the gathering (`sar`) and the renderings
(`sar_render`): its sections, their columns and the labels a reader sees, and the report itself.
Pure data, no database: both modules import it, neither imports the other's internals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from data_contracts import (
    ASSESSMENT_RESULTS,
    ATTENDANCE_SESSIONS,
    PUPIL_DETAILS,
    PUPIL_GROUPS,
    PUPILS,
    Contract,
)

UNNAMED_SECTION = "unnamed_figures"


@dataclass(frozen=True)
class Section:
    key: str  # the JSON key and the CSV file name
    title: str  # the heading a reader sees (PDF)
    columns: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)  # column -> readable label


def _labels(contract: Contract, columns: tuple[str, ...], **extra: str) -> dict[str, str]:
    known = {c.name: c.description for c in contract.columns}
    return {name: extra.get(name) or known[name] for name in columns}


def _item_columns(contract: Contract) -> tuple[str, ...]:
    """A data item's columns as held, less the internal key and the school (the report's own)."""
    return tuple(c.name for c in contract.columns if c.name not in ("pupil_key", "school_urn"))


# The record's columns: names and identity first, then the rest of the contract (so a column the
# contract gains appears without a change here), then what we recorded about holding it.
_RECORD_FIRST = (
    "legal_forename",
    "middle_names",
    "legal_surname",
    "forename",
    "surname",
    "date_of_birth",
    "sex",
    "upn",
    "former_upn",
    "nc_year",
    "admission_date",
    "leaving_date",
)
_RECORD_HELD = ("first_synced_at", "last_changed_at", "deleted_at", "left_informed_at")
_RECORD_COLUMNS = (
    _RECORD_FIRST
    + tuple(c.name for c in PUPILS.columns if c.name not in _RECORD_FIRST and c.name != "pupil_key")
    + _RECORD_HELD
)

SECTIONS = (
    Section(
        "pupil",
        "Pupil record",
        _RECORD_COLUMNS,
        _labels(
            PUPILS,
            _RECORD_COLUMNS,
            school_urn="School URN",
            connector="Received through (connector)",
            connector_pupil_id="The connector's reference number for the pupil",
            upi="The connector's reference number that follows the pupil between schools",
            mis_id="The school system's own reference number for the pupil",
            source_updated_at="Last changed in the school's system",
            first_synced_at="First received by us",
            last_changed_at="Last changed here",
            deleted_at="Deleted in the school's system on",
            left_informed_at="Leaving date first received on",
            nc_year="National curriculum year",
            sex="Sex",
            upn="UPN (Unique Pupil Number)",
            former_upn="Former UPN",
            leaving_date="Leaving date",
        ),
    ),
    Section(
        "additional_details",
        "Additional details",
        _item_columns(PUPIL_DETAILS),
        _labels(
            PUPIL_DETAILS,
            _item_columns(PUPIL_DETAILS),
            sen_status="Special educational needs (SEN) provision",
            first_language="First language",
            ethnicity="Ethnicity",
            source_updated_at="Last changed in the school's system",
        ),
    ),
    Section(
        "attendance",
        "Attendance",
        _item_columns(ATTENDANCE_SESSIONS),
        _labels(
            ATTENDANCE_SESSIONS,
            _item_columns(ATTENDANCE_SESSIONS),
            session_date="Date",
            session="Session",
            mark="Mark",
            source_updated_at="Last changed in the school's system",
        ),
    ),
    Section(
        "assessments",
        "Assessment results",
        _item_columns(ASSESSMENT_RESULTS),
        _labels(
            ASSESSMENT_RESULTS,
            _item_columns(ASSESSMENT_RESULTS),
            aspect_name="Subject or aspect",
            result_set_name="Assessment period",
            result="Result",
            result_date="Date",
            source_updated_at="Last changed in the school's system",
        ),
    ),
    Section(
        "groups",
        "Groups",
        _item_columns(PUPIL_GROUPS),
        _labels(
            PUPIL_GROUPS,
            _item_columns(PUPIL_GROUPS),
            group_type="Kind of group",
            group_code="Code",
            group_name="Name",
            source_updated_at="Last changed in the school's system",
        ),
    ),
    Section(
        "change_history",
        "History of changes",
        ("change_set", "computed_at", "applied_at", "status", "kind", "fields"),
        {
            "change_set": "No.",
            "computed_at": "Received",
            "applied_at": "Applied",
            "status": "Status",
            "kind": "Change",
            "fields": "Fields that changed",
        },
    ),
    Section(
        "quarantined_records",
        "Records held back by our checks",
        ("dataset", "rule", "record"),
        {"dataset": "Data item", "rule": "Check it failed", "record": "The record as received"},
    ),
    Section(
        "shared_with",
        "Shared with",
        ("partner", "partner_name", "made_at"),
        {"partner": "Partner", "partner_name": "Name", "made_at": "When"},
    ),
)
UNNAMED = Section(
    UNNAMED_SECTION,
    "Un-named figures held for the school",
    ("academic_year", "rule", "records"),
    {"academic_year": "School year", "rule": "Why the named data was removed", "records": "Records"},
)
SECTION_BY_KEY = {s.key: s for s in (*SECTIONS, UNNAMED)}

# Why a section holds nothing because the item is not collected (the section keys are the items).
WITHHELD = "not collected (withheld by the school)"
NOT_GRANTED = "not collected (the school has not given access to it)"
NOTHING_HELD = "nothing held"


@dataclass(frozen=True)
class SubjectAccessReport:
    school_urn: str
    school_name: str
    produced_at: datetime
    upn_searched: str
    found: bool
    matched_on: str | None  # "upn" or "former_upn" when found
    sections: dict[str, list[dict]]  # section key -> rows, in `SECTIONS` order (or the un-named figures)
    not_collected: dict[str, str] = field(default_factory=dict)  # section key -> WITHHELD or NOT_GRANTED

    def emptiness(self, key: str) -> str | None:
        """Why a section is empty ("not collected (withheld by the school)", "nothing held"), or None."""
        if self.sections.get(key):
            return None
        return self.not_collected.get(key, NOTHING_HELD)

    @property
    def pupil(self) -> dict | None:
        rows = self.sections.get("pupil") or []
        return rows[0] if rows else None

    @property
    def shown(self) -> tuple[Section, ...]:
        """The sections this report holds: every named section when found, else the un-named figures."""
        return SECTIONS if self.found else (UNNAMED,)

    def counts(self) -> dict[str, int]:
        return {s.key: len(self.sections.get(s.key, [])) for s in self.shown}

    @property
    def unnamed_total(self) -> int:
        return sum(row["records"] for row in self.sections.get(UNNAMED_SECTION, []))

    def statement(self) -> str:
        """What the report says, in a sentence or two a parent can read."""
        school = f"{self.school_name} (URN {self.school_urn})"
        if self.found:
            via = " (found by a former UPN)" if self.matched_on == "former_upn" else ""
            record = (
                ""
                if self.pupil
                else (
                    " No current pupil record is held: only the records our checks held back, listed below."
                )
            )
            return (
                f"This report sets out everything held about the pupil named in it{via}, as received from "
                f"{school}.{record}"
            )
        unnamed = (
            f"The school has {self.unnamed_total} un-named records in total (listed below)"
            if self.unnamed_total
            else "The school has no un-named records"
        )
        return (
            "Nothing held: no named data is held about a pupil with this UPN at "
            f"{school}. When a pupil's named data is removed under the retention rules, what remains is "
            "un-named: it holds no name, UPN, date of birth or other identifier, so it cannot be linked to "
            f"any pupil, and is kept for audit for up to 5 years. {unnamed}; none of them can be said to be "
            "this pupil's."
        )
