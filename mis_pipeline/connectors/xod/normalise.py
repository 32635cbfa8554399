"""XoD records → the canonical shapes of `canonical.py`. Pure functions; no Dagster, no I/O.

Value conventions match the Wonde normalisers: sex "M"/"F", NC year "R"/"6"/"N2", dates as
`date`, `source_updated_at` an aware UTC datetime, attendance marks as the DfE codes the MIS
sent ("\\" PM present, "-" no mark, "#" closed kept as sent), group types lower-case
year|registration|house|teaching.

Choices for details no source settles:
- the core record's `connector_pupil_id` is the XoD student `Id` (the MIS id, the documented
  natural key with the estab); `upi` is `ExternalId` (the MIS's GUID), else `IdaasId` ("PL-…");
- XoD timestamps carry no zone. They are read in `XOD_TIMESTAMP_ZONE` (UTC). The recording does
  not say whether they are UK local time; UK local would also be ambiguous for one hour each
  October. Switch the constant (and the simulator's `TIMESTAMP_ZONE`) once checked live;
- `nc_year` comes from `NCYear` when present (not in the 2018 recording), else from the SIMS year
  group name ("Year  6" → "6", "Reception" → "R", "Nursery 2" → "N2"; a bare "Nursery" → None);
- a student row has one `LastUpdated`, so the details record takes the student row's timestamp.

Only the fields connectors.md shows on a record are relied on; any other is optional. The
documented `AttendMarks` and `AsmResults` rows carry no `LastUpdated`, so every normaliser takes
`received_at` (the sync's own time) for `source_updated_at` when the row has none. A record that
cannot be read raises `RecordDefect` naming the field, in the connector's own field names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

from mis_pipeline.connectors.canonical import CANONICAL_FIELDS, RecordDefect, record_time, required
from mis_pipeline.lib.dates import iso_date

XOD_TIMESTAMP_ZONE = UTC
CORE_KEYS = CANONICAL_FIELDS["pupils"]
_SEX = {"M": "M", "F": "F", "MALE": "M", "FEMALE": "F"}
GROUP_TYPES = {"yeargrp": "year", "reggrp": "registration", "housegrp": "house", "teachinggrp": "teaching"}
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?"
)
_YEAR = re.compile(r"(?:year|yr|y)\s*(\d{1,2}|r)", re.IGNORECASE)
_NURSERY = re.compile(r"(?:nursery|n)\s*([12])", re.IGNORECASE)


def xod_date(value) -> date | None:
    """`yyyy-MM-dd` or a zone-less `yyyy-MM-ddT00:00:00` → the calendar date as written."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip()[:10]
    return iso_date(text)


def xod_utc(value) -> datetime | None:
    """A zone-less XoD timestamp (read in XOD_TIMESTAMP_ZONE), or one with Z/offset, → aware UTC.
    Accepts 0-7 fraction digits (.NET writes up to 7; Python keeps 6)."""
    if value is None or value == "":
        return None
    match = _TIMESTAMP.fullmatch(str(value).strip())
    if match is None:
        raise ValueError("unrecognised XoD timestamp")
    day, clock, fraction, zone = match.groups()
    text = day + "T" + (clock or "00:00:00") + (f".{fraction[:6]:0<6}" if fraction else "")
    moment = datetime.fromisoformat(text)
    if zone is None:
        moment = moment.replace(tzinfo=XOD_TIMESTAMP_ZONE)
    elif zone == "Z":
        moment = moment.replace(tzinfo=UTC)
    else:
        moment = moment.replace(tzinfo=datetime.strptime(zone.replace(":", ""), "%z").tzinfo)
    return moment.astimezone(UTC)


def xod_flag(value) -> bool | None:
    """0/1 ints, "0"/"1" strings (ServiceChild), booleans, "Y"/"N"/"T"/"F" → bool."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().upper()
    if text in ("1", "Y", "YES", "T", "TRUE"):
        return True
    if text in ("0", "N", "NO", "F", "FALSE"):
        return False
    raise ValueError("unrecognised XoD flag value")


def nc_year_from(raw: Mapping) -> str | None:
    explicit = raw.get("NCYear")
    if explicit not in (None, ""):
        text = str(explicit).strip().upper()
        return text[1:] if text.startswith("Y") and text[1:].isdigit() else text
    name = " ".join(str(raw.get("YearGroup") or "").split())
    if not name:
        return None
    if name.lower() == "reception":
        return "R"
    match = _YEAR.fullmatch(name)
    if match:
        return str(int(match.group(1))) if match.group(1).isdigit() else "R"
    match = _NURSERY.fullmatch(name)
    return f"N{match.group(1)}" if match else None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _updated(raw: Mapping, received_at: datetime | None) -> datetime:
    """The row's `LastUpdated`, else when the sync received it (a field no doc promises)."""
    return record_time(xod_utc, raw.get("LastUpdated"), "LastUpdated", received_at)


def _date(raw: Mapping, name: str, needed: bool = False) -> date | None:
    try:
        value = xod_date(required(raw, name) if needed else raw.get(name))
    except ValueError as error:
        if isinstance(error, RecordDefect):
            raise
        raise RecordDefect(f"{name}: not a date (yyyy-MM-dd)") from None
    return value


def _id(raw: Mapping, name: str) -> str:
    return str(required(raw, name))


def normalise_xod_student(raw: Mapping, school_urn: str, received_at: datetime | None = None) -> dict:
    """One `Students` row → the canonical core record. The UPN needs the UPN scope and the date
    of birth the StudentExtended scope; without them those values are None."""
    get = raw.get
    forename, surname = get("Forename"), get("Surname")
    dob = get("DateofBirth", get("DateOfBirth", get("DOB")))
    return {
        "school_urn": school_urn,
        "connector": "xod",
        "connector_pupil_id": _id(raw, "Id"),
        "upi": _text(get("ExternalId")) or _text(get("IdaasId")),
        "mis_id": _id(raw, "Id"),
        "upn": _text(get("UPN")),
        "former_upn": _text(get("FormerUPN")),
        "legal_forename": get("LegalForename") or forename,
        "legal_surname": get("LegalSurname") or surname,
        "forename": forename,
        "surname": surname,
        "middle_names": _text(get("MiddleName", get("MiddleNames"))),
        "date_of_birth": _date({"DateofBirth": dob}, "DateofBirth"),
        "sex": _SEX.get(str(get("Gender") or "").strip().upper()),
        "nc_year": nc_year_from(raw),
        "admission_date": _date({"EntryDate": get("EntryDate", get("AdmissionDate"))}, "EntryDate"),
        "leaving_date": _date(raw, "LeavingDate"),
        "source_updated_at": _updated(raw, received_at),
    }


_DETAIL_FIELDS = (
    "SENProvision",
    "FSMEligible",
    "PupilPremium",
    "EAL",
    "FirstLanguageCode",
    "EthnicityCode",
    "InLeaCare",
)


def normalise_xod_details(raw: Mapping, school_urn: str, received_at: datetime | None = None) -> dict | None:
    """The StudentExtended fields of one `Students` row → a `pupil_details` record, or None when
    the row carries none of them (the scope was not granted). Census codes, not display names:
    `FirstLanguageCode`, `EthnicityCode`."""
    if not any(name in raw for name in _DETAIL_FIELDS):
        return None
    get = raw.get
    sen = _text(get("SENProvision"))
    return {
        "school_urn": school_urn,
        "pupil_mis_id": _id(raw, "Id"),
        "sen_status": sen.upper() if sen else None,
        "fsm_eligible": _flag(raw, "FSMEligible"),
        "pupil_premium": _flag(raw, "PupilPremium"),
        "eal": _flag(raw, "EAL"),
        "first_language": _text(get("FirstLanguageCode")),
        "ethnicity": _text(get("EthnicityCode")),
        "in_care": _flag(raw, "InLeaCare"),
        "source_updated_at": _updated(raw, received_at),
    }


def _flag(raw: Mapping, name: str) -> bool | None:
    try:
        return xod_flag(raw.get(name))
    except ValueError:
        raise RecordDefect(f"{name}: not 0 or 1") from None


def normalise_xod_attendance(raw: Mapping, school_urn: str, received_at: datetime | None = None) -> dict:
    """One `AttendMarks` row (session marks) → an `attendance_sessions` record. The session and
    mark are judged by the contract (`session: not AM/PM`), so such a record keeps its key."""
    session = _text(raw.get("Session"))
    return {
        "school_urn": school_urn,
        "pupil_mis_id": _id(raw, "StudentId"),
        "session_date": _date(raw, "Date", needed=True),
        "session": session.upper() if session else None,
        "mark": raw.get("Mark"),
        "source_updated_at": _updated(raw, received_at),
    }


def normalise_xod_result(
    raw: Mapping,
    school_urn: str,
    aspect_names: Mapping[str, str] | None = None,
    result_set_names: Mapping[str, str] | None = None,
    received_at: datetime | None = None,
) -> dict:
    """One `AsmResults` row → an `assessment_results` record. Names come from the row's
    `AspectName`/`ResultSetName` (added by `XodResource.iter_assessment_pages`) or from the
    assessmentstructure lookups passed in."""
    aspect = raw.get("AspectName") or (aspect_names or {}).get(str(raw.get("AspectId")))
    result_set = raw.get("ResultSetName") or (result_set_names or {}).get(str(raw.get("ResultSetId")))
    if aspect is None:
        raise RecordDefect("AspectId: not in the school's assessment structure")
    if result_set is None:
        raise RecordDefect("ResultSetId: not in the school's assessment structure")
    return {
        "school_urn": school_urn,
        "pupil_mis_id": _id(raw, "StudentId"),
        "aspect_name": aspect,
        "result_set_name": result_set,
        "result": raw.get("Result"),
        "result_date": _date(raw, "ResultDate"),
        "source_updated_at": _updated(raw, received_at),
    }


def normalise_xod_group(
    group: Mapping, member: Mapping, school_urn: str, received_at: datetime | None = None
) -> dict:
    """One `Group` row and one of its `StudentMembers` rows → a `pupil_groups` record. Runs of
    whitespace in names collapse (SIMS writes "Year  6"); the group's LastUpdated is used."""
    kind = GROUP_TYPES.get(str(group.get("Type") or "").strip().lower())
    if kind is None:
        raise RecordDefect("Type: not YearGrp, RegGrp, HouseGrp or TeachingGrp")
    name = " ".join(str(group.get("Name") or "").split()) or None
    return {
        "school_urn": school_urn,
        "pupil_mis_id": _id(member, "StudentId"),
        "group_type": kind,
        "group_code": _text(group.get("Code")) or name,  # as the Wonde normaliser: no code → key on the name
        "group_name": name,
        "source_updated_at": _updated(group, received_at),
    }


def normalise_xod_groups(
    groups: Iterable[Mapping],
    members: Iterable[Mapping],
    school_urn: str,
    received_at: datetime | None = None,
) -> list[dict]:
    """Joins `StudentMembers` to their `Group` on GroupId; members of unknown groups are skipped."""
    by_id = {str(group["Id"]): group for group in groups}
    return [
        normalise_xod_group(by_id[str(member["GroupId"])], member, school_urn, received_at)
        for member in members
        if str(member.get("GroupId")) in by_id
    ]
