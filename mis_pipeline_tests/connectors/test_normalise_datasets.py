"""The pure normalisers for Wonde's other data items, on hand-written records: the accepted value
forms, absent includes, vocabularies and the exact canonical keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mis_pipeline.connectors.canonical import CANONICAL_FIELDS, RecordDefect
from mis_pipeline.connectors.wonde.normalise import (
    normalise_wonde_attendance,
    normalise_wonde_details,
    normalise_wonde_group,
    normalise_wonde_result,
)

URN = "100002"
STAMP = {"date": "2026-09-21 17:00:00.000000", "timezone_type": 3, "timezone": "UTC"}
STUDENT_STAMP = {"date": "2026-10-01 08:00:00.000000", "timezone_type": 3, "timezone": "UTC"}
AT_STAMP = datetime(2026, 9, 21, 17, tzinfo=UTC)
MIS = {"A1000000001": "4001", "A1000000002": "4002"}


def student(extended=None, **extra) -> dict:
    record = {"id": "A1000000001", "mis_id": "4001", "forename": "Zoë", "updated_at": STUDENT_STAMP, **extra}
    if extended is not None:
        record["extended_details"] = extended
    return record


def test_details_from_the_simulator_form():
    row = normalise_wonde_details(
        student(
            {
                "data": {
                    "sen_status": "K",
                    "free_school_meals": True,
                    "premium_pupil_indicator": True,
                    "english_as_additional_language_status": "Other than English",
                    "first_language": {"code": "POL", "description": "Polish"},
                    "ethnicity": {"code": "WOTH", "description": "Any other White background"},
                    "in_care": False,
                    "updated_at": STAMP,
                }
            }
        ),
        URN,
    )
    assert row == {
        "school_urn": URN,
        "pupil_mis_id": "4001",
        "sen_status": "K",
        "fsm_eligible": True,
        "pupil_premium": True,
        "eal": True,
        "first_language": "POL",
        "ethnicity": "WOTH",
        "in_care": False,
        "source_updated_at": AT_STAMP,
    }
    assert tuple(row) == CANONICAL_FIELDS["pupil_details"]


def test_details_accept_bare_codes_bool_eal_looked_after_and_fall_back_to_the_student_time():
    row = normalise_wonde_details(
        student(
            {
                "data": {
                    "sen_status": "",
                    "free_school_meals": "0",
                    "premium_pupil_indicator": None,
                    "english_as_additional_language_status": False,
                    "first_language": "ENG",
                    "ethnicity": "WBRI",
                    "looked_after": True,
                }
            }
        ),
        URN,
    )
    assert row["sen_status"] is None and row["fsm_eligible"] is False and row["pupil_premium"] is None
    assert row["eal"] is False and row["first_language"] == "ENG" and row["ethnicity"] == "WBRI"
    assert row["in_care"] is True
    assert row["source_updated_at"] == datetime(2026, 10, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize("extended", [None, {"data": None}, {"data": {}}])
def test_details_are_none_without_the_include(extended):
    assert normalise_wonde_details(student(extended), URN) is None


def mark(**extra) -> dict:
    return {
        "id": "AT1",
        "student": "A1000000002",
        "session": "PM",
        "attendance_code": {
            "data": {"id": "A204050601", "code": "\\", "description": "Present (PM)", "type": "PRESENT"}
        },
        "date": {"date": "2026-09-07 00:00:00.000000", "timezone_type": 3, "timezone": "Europe/London"},
        "comment": None,
        "minutes_late": None,
        "created_at": STAMP,
        "updated_at": STAMP,
        **extra,
    }


def test_attendance_keeps_the_backslash_and_the_local_date():
    row = normalise_wonde_attendance(mark(), URN, MIS)
    assert row == {
        "school_urn": URN,
        "pupil_mis_id": "4002",
        "session_date": date(2026, 9, 7),
        "session": "PM",
        "mark": "\\",
        "source_updated_at": AT_STAMP,
    }
    assert tuple(row) == CANONICAL_FIELDS["attendance_sessions"]


def test_attendance_accepts_an_included_student_and_a_plain_date():
    row = normalise_wonde_attendance(
        mark(student={"data": {"id": "A1000000001"}}, date="2026-09-08"), URN, MIS
    )
    assert row["pupil_mis_id"] == "4001" and row["session_date"] == date(2026, 9, 8)


def test_attendance_for_an_unknown_student_says_so_in_a_data_managers_words():
    with pytest.raises(RecordDefect, match="^student: not a pupil of this school$"):
        normalise_wonde_attendance(mark(student="A9999999999"), URN, MIS)


def test_attendance_without_the_code_include_is_rejected():
    with pytest.raises(RecordDefect, match="^attendance_code: not included"):
        normalise_wonde_attendance(mark(attendance_code="A204050601"), URN, MIS)


def test_result_names_its_aspect_and_result_set():
    raw = {
        "id": "AR1",
        "student": "A1000000001",
        "aspect": "AS1",
        "result_set": "RS2",
        "result": "6",
        "result_date": {
            "date": "2026-10-16 00:00:00.000000",
            "timezone_type": 3,
            "timezone": "Europe/London",
        },
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    row = normalise_wonde_result(raw, URN, MIS, {"AS1": "Maths"}, {"RS2": "2026/27 Autumn 1"})
    assert row == {
        "school_urn": URN,
        "pupil_mis_id": "4001",
        "aspect_name": "Maths",
        "result_set_name": "2026/27 Autumn 1",
        "result": "6",
        "result_date": date(2026, 10, 16),
        "source_updated_at": AT_STAMP,
    }
    assert tuple(row) == CANONICAL_FIELDS["assessment_results"]
    with pytest.raises(RecordDefect, match="^aspect: not one of the school's aspects$"):
        normalise_wonde_result(raw, URN, MIS, {}, {"RS2": "x"})
    with pytest.raises(RecordDefect, match="^student: not a pupil of this school$"):
        normalise_wonde_result(dict(raw, student="A0"), URN, MIS, {"AS1": "Maths"}, {"RS2": "x"})


def group(**extra) -> dict:
    return {
        "id": "GR1",
        "mis_id": "12",
        "code": "7B",
        "name": "7B",
        "type": "REGISTRATION",
        "created_at": STAMP,
        "updated_at": STAMP,
        "students": {"data": [{"id": "A1000000001"}, {"id": "A1000000002"}]},
        **extra,
    }


def test_group_gives_one_membership_per_student():
    rows = normalise_wonde_group(group(), URN, MIS)
    assert rows == [
        {
            "school_urn": URN,
            "pupil_mis_id": mis_id,
            "group_type": "registration",
            "group_code": "7B",
            "group_name": "7B",
            "source_updated_at": AT_STAMP,
        }
        for mis_id in ("4001", "4002")
    ]
    assert all(tuple(row) == CANONICAL_FIELDS["pupil_groups"] for row in rows)


@pytest.mark.parametrize(
    ("wonde_type", "canonical"),
    [("YEAR", "year"), ("REGISTRATION", "registration"), ("HOUSE", "house"), ("TEACHING", "teaching")],
)
def test_group_types_are_lower_cased(wonde_type, canonical):
    assert {row["group_type"] for row in normalise_wonde_group(group(type=wonde_type), URN, MIS)} == {
        canonical
    }


def test_group_edge_cases():
    assert normalise_wonde_group(group(type="BOARDING"), URN, MIS) == []
    assert normalise_wonde_group(group(students={"data": []}), URN, MIS) == []
    assert normalise_wonde_group(group(code=None, name="Curie"), URN, MIS)[0]["group_code"] == "Curie"
    without = group()
    del without["students"]
    with pytest.raises(RecordDefect, match="^students: not included"):
        normalise_wonde_group(without, URN, MIS)


def test_a_group_with_an_unknown_member_lands_for_its_other_members_and_names_the_unknown_one():
    unknown: list[str] = []
    rows = normalise_wonde_group(
        group(students={"data": [{"id": "A0"}, {"id": "A1000000002"}]}), URN, MIS, unknown=unknown
    )
    assert ([row["pupil_mis_id"] for row in rows], unknown) == (["4002"], ["A0"])
