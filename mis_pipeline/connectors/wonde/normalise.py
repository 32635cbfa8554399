"""Wonde records → canonical core records. Pure functions; no Dagster, no I/O.

Dates arrive as PHP DateTime objects (`{"date": "...", "timezone": "UTC"}`) in recorded
responses and as plain `YYYY-MM-DD` strings in some docs, so both are accepted.

A record that cannot be read raises `RecordDefect` naming the field in Wonde's own words
(`student: not a pupil of this school`); `source_updated_at` is the record's `updated_at`, else
`received_at`, the sync's own time (connectors.md marks most Wonde record shapes as inferences).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from mis_pipeline.connectors.canonical import RecordDefect, record_time
from mis_pipeline.lib.dates import iso_date

CORE_KEYS = (
    "school_urn",
    "connector",
    "connector_pupil_id",
    "upi",
    "mis_id",
    "upn",
    "former_upn",
    "legal_forename",
    "legal_surname",
    "forename",
    "surname",
    "middle_names",
    "date_of_birth",
    "sex",
    "nc_year",
    "admission_date",
    "leaving_date",
    "source_updated_at",
)
_SEX = {"MALE": "M", "FEMALE": "F"}


@lru_cache(maxsize=64)
def _zone(name: str | None):
    if not name or name.upper() in ("UTC", "Z", "+00:00"):
        return UTC
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def _parse(text: str, zone_name: str | None) -> datetime | date:
    """Cached: dates of birth and admission dates repeat heavily across a school."""
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone_name))
    return moment


def wonde_datetime(value) -> datetime | date | None:
    """A PHP DateTime object or an ISO string → aware datetime; a bare `YYYY-MM-DD` → date."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        text = value.get("date")
        return _parse(text, value.get("timezone")) if text else None
    if isinstance(value, str):
        return _parse(value, None)
    raise ValueError(f"unrecognised Wonde date value of type {type(value).__name__}")


def wonde_date(value) -> date | None:
    """The calendar date in the value's own zone: a DOB at 00:00 Europe/London must not slip a
    day by conversion to UTC."""
    parsed = wonde_datetime(value)
    return parsed.date() if isinstance(parsed, datetime) else parsed


def wonde_utc(value) -> datetime | None:
    parsed = wonde_datetime(value)
    if parsed is None:
        return None
    if not isinstance(parsed, datetime):
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
    return parsed.astimezone(UTC)


_UTC = UTC


def _fast_date(value) -> date | None:
    """`wonde_date` with a dict-cache fast path for the object form; the date part of the text
    is already the calendar date in the value's own zone."""
    if value is None:
        return None
    if type(value) is dict:
        text = value.get("date")
        if text:
            return iso_date(text[:10])
    return wonde_date(value)


def _fast_utc(value) -> datetime | None:
    """`wonde_utc` with a fast path for the usual UTC object form (unique per record, so no cache)."""
    if type(value) is dict and value.get("timezone") == "UTC" and value.get("date"):
        # Appending the offset is ~8x faster than `.replace(tzinfo=...)` on CPython 3.11.
        return datetime.fromisoformat(value["date"] + "+00:00")
    return wonde_utc(value)


def _updated(raw: dict, received_at: datetime | None) -> datetime:
    """The record's `updated_at`, else when the sync received it."""
    return record_time(_fast_utc, raw.get("updated_at"), "updated_at", received_at)


def normalise_wonde_student(raw: dict, school_urn: str, received_at: datetime | None = None) -> dict:
    """One Wonde student (ideally with `include=education_details`) → the canonical core record.
    Without the include the UPN, NC year and dates are None: the include was not granted.
    Written flat, with fast paths, because it runs once per pupil on every full sync."""
    get = raw.get
    education = get("education_details")
    education = (education.get("data") if education else None) or _EMPTY
    updated_at = _updated(raw, received_at)
    if not get("id"):
        raise RecordDefect("id: missing")
    forename = get("forename")
    surname = get("surname")
    nc_year = education.get("current_nc_year")
    return {
        "school_urn": school_urn,
        "connector": "wonde",
        "connector_pupil_id": raw["id"],
        "upi": get("upi"),
        "mis_id": get("mis_id"),
        "upn": education.get("upn") or None,
        "former_upn": education.get("former_upn") or None,
        "legal_forename": get("legal_forename") or forename,
        "legal_surname": get("legal_surname") or surname,
        "forename": forename,
        "surname": surname,
        "middle_names": get("middle_names") or None,
        "date_of_birth": _fast_date(get("date_of_birth")),
        "sex": _SEX.get(get("gender")),
        "nc_year": nc_year if nc_year is None or type(nc_year) is str else str(nc_year),
        "admission_date": _fast_date(education.get("admission_date")),
        "leaving_date": _fast_date(education.get("leaving_date")),
        "source_updated_at": updated_at,
    }


_EMPTY: dict = {}


def normalise_wonde_school(raw: dict) -> dict:
    """The school identifiers the pipeline keys on, as strings (Wonde sends `urn` as an int)."""

    def text(value) -> str | None:
        return None if value is None or value == "" else str(value)

    return {
        "connector_school_id": raw["id"],
        "urn": text(raw.get("urn")),
        "la_code": text(raw.get("la_code")),
        "establishment_number": text(raw.get("establishment_number")),
        "name": raw.get("name"),
        "phase_of_education": raw.get("phase_of_education"),
        "mis": raw.get("mis"),
    }


# -- other data items (canonical.py) ---------------------------------------------------------
# Value vocabularies. Booleans may arrive as JSON bools or, defensively, 0/1 and "true"/"false".
_BOOL = {
    True: True,
    False: False,
    "1": True,
    "0": False,
    "true": True,
    "false": False,
    "True": True,
    "False": False,
    "Y": True,
    "N": False,
}
# `english_as_additional_language_status`: the census first-language groups as text (our
# simulator sends "English"/"Other than English"); a JSON bool is taken at face value.
_EAL = {
    "English": False,
    "Believed to be English": False,
    "Other than English": True,
    "Believed to be other than English": True,
    True: True,
    False: False,
}
_GROUP_TYPES = {
    "YEAR": "year",
    "REGISTRATION": "registration",
    "HOUSE": "house",
    "TEACHING": "teaching",
    "year": "year",
    "registration": "registration",
    "house": "house",
    "teaching": "teaching",
}


def _flag(value) -> bool | None:
    return None if value is None else _BOOL.get(value)


def _code(value) -> str | None:
    """A census code sent as `{"code": ..., "description": ...}` or as the bare code."""
    if value is None:
        return None
    if type(value) is dict:
        value = value.get("code")
    return value or None


def _related_id(value) -> str | None:
    """A relation sent as a bare id, or included as `{"data": {"id": ...}}`."""
    if type(value) is dict:
        value = (value.get("data") or {}).get("id")
    return value


def _pupil_of(raw: dict, mis_id_by_student_id) -> str:
    """The MIS id of the student a record names, or a RecordDefect for a student the school's
    pupils do not include."""
    student = _related_id(raw.get("student"))
    if not student:
        raise RecordDefect("student: missing")
    mis_id = mis_id_by_student_id.get(student)
    if mis_id is None:
        raise RecordDefect(STUDENT_UNKNOWN)
    return mis_id


STUDENT_UNKNOWN = "student: not a pupil of this school"


def normalise_wonde_details(
    raw_student: dict, school_urn: str, received_at: datetime | None = None
) -> dict | None:
    """A student's `extended_details` → a canonical `pupil_details` record, or None when the
    include is absent (not asked for, or `students.extended.read` not granted). The record's
    time is the details' own `updated_at` when sent, else the student's."""
    extended = raw_student.get("extended_details")
    data = extended.get("data") if extended else None
    if not data:
        return None
    get = data.get
    updated_at = _fast_utc(get("updated_at")) or _updated(raw_student, received_at)
    if not raw_student.get("mis_id"):
        raise RecordDefect("mis_id: missing")
    in_care = get("in_care")
    if in_care is None:
        in_care = get("looked_after")
    eal = get("english_as_additional_language_status")
    return {
        "school_urn": school_urn,
        "pupil_mis_id": raw_student["mis_id"],
        "sen_status": get("sen_status") or None,
        "fsm_eligible": _flag(get("free_school_meals")),
        "pupil_premium": _flag(get("premium_pupil_indicator")),
        "eal": None if eal is None else _EAL.get(eal),
        "first_language": _code(get("first_language")),
        "ethnicity": _code(get("ethnicity")),
        "in_care": _flag(in_care),
        "source_updated_at": updated_at,
    }


def _day(raw: dict, name: str, needed: bool = False) -> date | None:
    value = raw.get(name)
    if value is None and needed:
        raise RecordDefect(f"{name}: missing")
    try:
        return _fast_date(value)
    except (ValueError, TypeError):
        raise RecordDefect(f"{name}: not a date") from None


def normalise_wonde_attendance(
    raw: dict, school_urn: str, mis_id_by_student_id, received_at: datetime | None = None
) -> dict:
    """One session mark (fetched with `include=attendance_code`) → `attendance_sessions`. A mark
    for a student not in `mis_id_by_student_id`, or whose code was not included, raises
    RecordDefect so the caller can quarantine it; the session is judged by the contract."""
    pupil_mis_id = _pupil_of(raw, mis_id_by_student_id)
    code = raw.get("attendance_code")
    if type(code) is not dict or type(code.get("data")) is not dict:
        raise RecordDefect("attendance_code: not included (ask with include=attendance_code)")
    return {
        "school_urn": school_urn,
        "pupil_mis_id": pupil_mis_id,
        "session_date": _day(raw, "date", needed=True),
        "session": raw.get("session"),
        "mark": code["data"].get("code"),
        "source_updated_at": _updated(raw, received_at),
    }


def normalise_wonde_result(
    raw: dict,
    school_urn: str,
    mis_id_by_student_id,
    aspect_names: dict[str, str],
    result_set_names: dict[str, str],
    received_at: datetime | None = None,
) -> dict:
    """One assessment result → `assessment_results`, naming its aspect and result set. An
    unknown student, aspect or result set raises RecordDefect (the caller quarantines it)."""
    pupil_mis_id = _pupil_of(raw, mis_id_by_student_id)
    aspect = aspect_names.get(_related_id(raw.get("aspect")))
    if aspect is None:
        raise RecordDefect("aspect: not one of the school's aspects")
    result_set = result_set_names.get(_related_id(raw.get("result_set")))
    if result_set is None:
        raise RecordDefect("result_set: not one of the school's result sets")
    return {
        "school_urn": school_urn,
        "pupil_mis_id": pupil_mis_id,
        "aspect_name": aspect,
        "result_set_name": result_set,
        "result": raw.get("result"),
        "result_date": _day(raw, "result_date"),
        "source_updated_at": _updated(raw, received_at),
    }


def wonde_group_key(raw: dict) -> tuple[str, str] | None:
    """The (group_type, group_code) a Wonde group's memberships are held under, or None for a
    type we do not take. A group read with no members still has a key: its memberships are gone."""
    group_type = _GROUP_TYPES.get(raw.get("type"))
    if group_type is None:
        return None
    return group_type, raw.get("code") or raw.get("name")


def wonde_group_members(raw: dict) -> list[str]:
    """The Wonde student ids of a group's included members; a group without its students
    include raises RecordDefect (no members would look like everyone left)."""
    students = raw.get("students")
    if type(students) is not dict or type(students.get("data")) is not list:
        raise RecordDefect("students: not included (ask with include=students)")
    return [member.get("id") for member in students["data"] if isinstance(member, dict)]


def normalise_wonde_group(
    raw: dict,
    school_urn: str,
    mis_id_by_student_id,
    received_at: datetime | None = None,
    unknown: list[str] | None = None,
) -> list[dict]:
    """One group (fetched with `include=students`) → one `pupil_groups` membership per member.
    A group type outside year|registration|house|teaching (e.g. BOARDING) gives []. A member
    the school's pupils do not include is left out, and its id appended to `unknown` when given
    (the caller quarantines that membership alone: the group lands for its other members)."""
    key = wonde_group_key(raw)
    if key is None:
        return []
    members = wonde_group_members(raw)
    name = raw.get("name")
    group_type, code = key  # the natural key needs a code; a code-less group keys on its name
    updated_at = _updated(raw, received_at)
    memberships = []
    for member in members:
        mis_id = mis_id_by_student_id.get(member)
        if mis_id is None:
            if unknown is not None:
                unknown.append(member)
            continue
        memberships.append(
            {
                "school_urn": school_urn,
                "pupil_mis_id": mis_id,
                "group_type": group_type,
                "group_code": code,
                "group_name": name,
                "source_updated_at": updated_at,
            }
        )
    return memberships
