"""The canonical record shapes every connector normalises to. Pure; no Dagster, no HTTP.

Downstream code never learns which connector produced a record. Pupils are referred to by the
MIS's own id (`pupil_mis_id`), which both connectors expose (Wonde `mis_id`, XoD student `Id`)
and which survives re-enrolment; the sync turns it into the internal pupil key and never stores it
outside the core record. Values are plain Python: str, bool, datetime.date, aware UTC datetime.
"""

from __future__ import annotations

# dataset name -> the keys of one canonical record (order is the column order)
CANONICAL_FIELDS: dict[str, tuple[str, ...]] = {
    # the core record (normalise_*_student); `pupil_key` is added by the sync
    "pupils": (
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
    ),
    # additional pupil details: SEN provision N/K/E, FSM, pupil premium, EAL, census codes
    "pupil_details": (
        "school_urn",
        "pupil_mis_id",
        "sen_status",
        "fsm_eligible",
        "pupil_premium",
        "eal",
        "first_language",
        "ethnicity",
        "in_care",
        "source_updated_at",
    ),
    # one session mark: date, AM|PM, DfE code ("/" AM present, "\\" PM present, "L", "I", …)
    "attendance_sessions": (
        "school_urn",
        "pupil_mis_id",
        "session_date",
        "session",
        "mark",
        "source_updated_at",
    ),
    # one result: aspect (column) within a result set (assessment period), by name
    "assessment_results": (
        "school_urn",
        "pupil_mis_id",
        "aspect_name",
        "result_set_name",
        "result",
        "result_date",
        "source_updated_at",
    ),
    # one membership: group_type year|registration|house|teaching, the MIS's group code and name
    "pupil_groups": (
        "school_urn",
        "pupil_mis_id",
        "group_type",
        "group_code",
        "group_name",
        "source_updated_at",
    ),
}

# The fields that identify one record of a dataset within a school (its natural key).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "pupils": ("mis_id",),
    "pupil_details": ("pupil_mis_id",),
    "attendance_sessions": ("pupil_mis_id", "session_date", "session"),
    "assessment_results": ("pupil_mis_id", "aspect_name", "result_set_name"),
    "pupil_groups": ("pupil_mis_id", "group_type", "group_code"),
}

# Deletions and leavers, as both connectors report them.
#   deletion: {"school_urn", "pupil_mis_id", "deleted_at" (aware UTC), "restored_at" (aware UTC | None)}
#   leaver: a core record whose `leaving_date` is set
DELETION_FIELDS = ("school_urn", "pupil_mis_id", "deleted_at", "restored_at")


class RecordDefect(ValueError):
    """A connector record the pipeline cannot read, said as `field: what is wrong` in the words a
    school's data manager can act on in their MIS (`LastUpdated: not a date and time`,
    `student: not a pupil of this school`). It names fields, never values: the text is what
    quarantine and the run's metadata show."""


def required(raw, name: str):
    """`raw[name]`, or a RecordDefect naming the missing field."""
    value = raw.get(name) if isinstance(raw, dict) else None
    if value is None or value == "":
        raise RecordDefect(f"{name}: missing")
    return value


def record_time(parse, value, field: str, received_at):
    """A record's own time (`parse`d from `value`, the connector's `field`), else when the sync
    received it: a field the documentation does not show on a record is optional. Without either,
    or with a value that is not a time, the record is defective (named by the field, never its value)."""
    try:
        moment = parse(value)
    except (ValueError, TypeError):
        raise RecordDefect(f"{field}: not a date and time") from None
    if moment is None:
        if received_at is None:
            raise RecordDefect(f"{field}: missing")
        return received_at
    return moment
