"""Wonde records → canonical core records. Pure functions; no Dagster, no I/O.

Dates arrive as PHP DateTime objects (`{"date": "...", "timezone": "UTC"}`) in recorded
responses and as plain `YYYY-MM-DD` strings in some docs, so both are accepted.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from mis_pipeline.lib.dates import iso_date

CORE_KEYS = (
    "school_urn", "connector", "connector_pupil_id", "upi", "mis_id", "upn", "former_upn",
    "legal_forename", "legal_surname", "forename", "surname", "middle_names", "date_of_birth",
    "sex", "nc_year", "admission_date", "leaving_date", "source_updated_at",
)
_SEX = {"MALE": "M", "FEMALE": "F"}


@lru_cache(maxsize=64)
def _zone(name: str | None):
    if not name or name.upper() in ("UTC", "Z", "+00:00"):
        return timezone.utc
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
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


_UTC = timezone.utc


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


def normalise_wonde_student(raw: dict, school_urn: str) -> dict:
    """One Wonde student (ideally with `include=education_details`) → the canonical core record.
    Without the include the UPN, NC year and dates are None: the include was not granted.
    Written flat, with fast paths, because it runs once per pupil on every full sync."""
    get = raw.get
    education = get("education_details")
    education = (education.get("data") if education else None) or _EMPTY
    updated_at = _fast_utc(get("updated_at"))
    if updated_at is None:
        raise ValueError(f"Wonde student {get('id')} has no updated_at")
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
_BOOL = {True: True, False: False, "1": True, "0": False, "true": True, "false": False,
         "True": True, "False": False, "Y": True, "N": False}
# `english_as_additional_language_status`: the census first-language groups as text (our
# simulator sends "English"/"Other than English"); a JSON bool is taken at face value.
_EAL = {"English": False, "Believed to be English": False, "Other than English": True,
        "Believed to be other than English": True, True: True, False: False}
_GROUP_TYPES = {"YEAR": "year", "REGISTRATION": "registration", "HOUSE": "house", "TEACHING": "teaching",
                "year": "year", "registration": "registration", "house": "house", "teaching": "teaching"}


def _flag(value) -> bool | None:
    return None if value is None else _BOOL.get(value)


def _code(value) -> str | None:
    """A census code sent as `{"code": ..., "description": ...}` or as the bare code."""
    if value is None:
        return None
    if type(value) is dict:
        value = value.get("code")
    return value or None


def _related_id(value) -> str:
    """A relation sent as a bare id, or included as `{"data": {"id": ...}}`."""
    if type(value) is dict:
        value = value["data"]["id"]
    return value


def normalise_wonde_details(raw_student: dict, school_urn: str) -> dict | None:
    """A student's `extended_details` → a canonical `pupil_details` record, or None when the
    include is absent (not asked for, or `students.extended.read` not granted). The record's
    time is the details' own `updated_at` when sent, else the student's."""
    extended = raw_student.get("extended_details")
    data = extended.get("data") if extended else None
    if not data:
        return None
    get = data.get
    updated_at = _fast_utc(get("updated_at")) or _fast_utc(raw_student.get("updated_at"))
    if updated_at is None:
        raise ValueError(f"Wonde student {raw_student.get('id')} has no updated_at")
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


def normalise_wonde_attendance(raw: dict, school_urn: str, mis_id_by_student_id: dict[str, str]) -> dict:
    """One session mark (fetched with `include=attendance_code`) → `attendance_sessions`.
    A mark for a student not in `mis_id_by_student_id` raises KeyError, so the caller can
    quarantine it; a mark whose code was not included raises ValueError."""
    pupil_mis_id = mis_id_by_student_id[_related_id(raw["student"])]
    code = raw.get("attendance_code")
    if type(code) is not dict:
        raise ValueError(f"Wonde attendance {raw.get('id')} has no included attendance_code")
    return {
        "school_urn": school_urn,
        "pupil_mis_id": pupil_mis_id,
        "session_date": _fast_date(raw["date"]),
        "session": raw["session"],
        "mark": code["data"]["code"],
        "source_updated_at": _fast_utc(raw["updated_at"]),
    }


def normalise_wonde_result(raw: dict, school_urn: str, mis_id_by_student_id: dict[str, str],
                           aspect_names: dict[str, str], result_set_names: dict[str, str]) -> dict:
    """One assessment result → `assessment_results`, naming its aspect and result set. An
    unknown student, aspect or result set raises KeyError (the caller quarantines it)."""
    return {
        "school_urn": school_urn,
        "pupil_mis_id": mis_id_by_student_id[_related_id(raw["student"])],
        "aspect_name": aspect_names[_related_id(raw["aspect"])],
        "result_set_name": result_set_names[_related_id(raw["result_set"])],
        "result": raw.get("result"),
        "result_date": _fast_date(raw.get("result_date")),
        "source_updated_at": _fast_utc(raw["updated_at"]),
    }


def wonde_group_key(raw: dict) -> tuple[str, str] | None:
    """The (group_type, group_code) a Wonde group's memberships are held under, or None for a
    type we do not take. A group read with no members still has a key: its memberships are gone."""
    group_type = _GROUP_TYPES.get(raw.get("type"))
    if group_type is None:
        return None
    return group_type, raw.get("code") or raw.get("name")


def normalise_wonde_group(raw: dict, school_urn: str, mis_id_by_student_id: dict[str, str]) -> list[dict]:
    """One group (fetched with `include=students`) → one `pupil_groups` membership per member.
    A group type outside year|registration|house|teaching (e.g. BOARDING) gives []; a group
    without its students include raises ValueError (no members would look like everyone left);
    an unknown member raises KeyError."""
    key = wonde_group_key(raw)
    if key is None:
        return []
    students = raw.get("students")
    if type(students) is not dict or type(students.get("data")) is not list:
        raise ValueError(f"Wonde group {raw.get('id')} has no included students")
    name = raw.get("name")
    group_type, code = key  # the natural key needs a code; a code-less group keys on its name
    updated_at = _fast_utc(raw["updated_at"])
    return [
        {
            "school_urn": school_urn,
            "pupil_mis_id": mis_id_by_student_id[member["id"]],
            "group_type": group_type,
            "group_code": code,
            "group_name": name,
            "source_updated_at": updated_at,
        }
        for member in students["data"]
    ]
