"""Contracts for the data items beyond the core record: details, attendance, assessments, groups.

Each row is tied to its pupil by the internal pupil key only; the MIS id that connectors use to
refer to a pupil is resolved to that key during the sync and never stored with these rows.
"""

from __future__ import annotations

from datetime import date

from data_contracts.checks import ATTENDANCE_MARKS, GROUP_TYPES, SEN_CODES, SESSIONS, date_between, one_of
from data_contracts.model import Column, Contract, PiiClass, Retention, Scope

EARLIEST = date(1990, 1, 1)


def _common() -> tuple[Column, ...]:
    return (
        Column(
            "pupil_key", "string", "Internal pupil key", nullable=False, pii=PiiClass.QUASI, max_length=64
        ),
        Column(
            "school_urn",
            "string",
            "The school's URN",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=8,
        ),
    )


_UPDATED = Column(
    "source_updated_at", "datetime", "When the connector last changed the record", nullable=False
)

PUPIL_DETAILS = Contract(
    dataset="pupil_details",
    description="Additional pupil details: SEN provision, FSM, pupil premium, EAL, language, ethnicity, in care.",
    scope=Scope.ADDITIONAL_DETAILS,
    key=("pupil_key",),
    columns=(
        *_common(),
        Column(
            "sen_status",
            "string",
            "SEN provision: N none, K SEN support, E EHC plan",
            pii=PiiClass.QUASI,
            retention=Retention.UNNAMED,
            max_length=1,
            checks=(one_of("sen_code", SEN_CODES, "N, K or E"),),
        ),
        Column(
            "fsm_eligible",
            "bool",
            "Eligible for free school meals",
            pii=PiiClass.QUASI,
            retention=Retention.UNNAMED,
        ),
        Column(
            "pupil_premium", "bool", "Attracts pupil premium", pii=PiiClass.QUASI, retention=Retention.UNNAMED
        ),
        Column(
            "eal",
            "bool",
            "English as an additional language",
            pii=PiiClass.QUASI,
            retention=Retention.UNNAMED,
        ),
        Column("first_language", "string", "Census first-language code", pii=PiiClass.QUASI, max_length=8),
        Column("ethnicity", "string", "Census extended ethnicity code", pii=PiiClass.QUASI, max_length=8),
        Column("in_care", "bool", "Looked after by a local authority", pii=PiiClass.QUASI),
        _UPDATED,
    ),
)

ATTENDANCE_SESSIONS = Contract(
    dataset="attendance_sessions",
    description="One registration mark per pupil per session (AM/PM), with its DfE code.",
    scope=Scope.ATTENDANCE,
    key=("pupil_key", "session_date", "session"),
    columns=(
        *_common(),
        Column(
            "session_date",
            "date",
            "The school day",
            nullable=False,
            retention=Retention.UNNAMED,
            checks=(date_between("session_date_plausible", EARLIEST, 1),),
        ),
        Column(
            "session",
            "string",
            "AM or PM",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=2,
            checks=(one_of("session_code", SESSIONS, "AM or PM", "not AM/PM"),),
        ),
        Column(
            "mark",
            "string",
            "DfE attendance code",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=2,
            checks=(one_of("attendance_code", ATTENDANCE_MARKS, "a DfE attendance code"),),
        ),
        _UPDATED,
    ),
)

ASSESSMENT_RESULTS = Contract(
    dataset="assessment_results",
    description="One assessment result: an aspect (column) within a result set (assessment period).",
    scope=Scope.ASSESSMENTS,
    key=("pupil_key", "aspect_name", "result_set_name"),
    columns=(
        *_common(),
        Column(
            "aspect_name",
            "string",
            "The aspect assessed",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=200,
        ),
        Column(
            "result_set_name",
            "string",
            "The assessment period",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=200,
        ),
        Column(
            "result",
            "string",
            "The result as recorded",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=100,
        ),
        Column(
            "result_date",
            "date",
            "When the result was recorded",
            retention=Retention.UNNAMED,
            checks=(date_between("result_date_plausible", EARLIEST, 1),),
        ),
        _UPDATED,
    ),
)

PUPIL_GROUPS = Contract(
    dataset="pupil_groups",
    description="Membership of year, registration, house and teaching groups.",
    scope=Scope.GROUPS,
    key=("pupil_key", "group_type", "group_code"),
    columns=(
        *_common(),
        Column(
            "group_type",
            "string",
            "year, registration, house or teaching",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=16,
            checks=(
                one_of(
                    "group_type_code",
                    GROUP_TYPES,
                    "a group type",
                    "not year, registration, house or teaching",
                ),
            ),
        ),
        Column(
            "group_code",
            "string",
            "The MIS's code for the group",
            nullable=False,
            pii=PiiClass.QUASI,
            max_length=64,
        ),
        Column("group_name", "string", "The group's name", pii=PiiClass.QUASI, max_length=200),
        _UPDATED,
    ),
)
