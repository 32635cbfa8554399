"""Every example record in `../shared/reference/connectors.md`, verbatim (fixtures/), normalises to
the canonical record written out here. A field the documentation does not show on a record is
never required: `source_updated_at` is then the sync's own time (RECEIVED)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from data_contracts import PUPILS, split_valid
from mis_pipeline.connectors.canonical import RecordDefect
from mis_pipeline.connectors.wonde.normalise import (
    normalise_wonde_attendance,
    normalise_wonde_details,
    normalise_wonde_result,
    normalise_wonde_school,
    normalise_wonde_student,
)
from mis_pipeline.connectors.xod.client import XodChangeset, has_exception
from mis_pipeline.connectors.xod.normalise import (
    normalise_xod_attendance,
    normalise_xod_details,
    normalise_xod_group,
    normalise_xod_result,
    normalise_xod_student,
)
from mis_pipeline.registry.scopes import granted_scopes
from mis_pipeline.sync.sources import student_deletions

FIXTURES = Path(__file__).parent / "fixtures"
URN = "100002"
RECEIVED = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
UTC = UTC
# The document elides some values with a bare "…" outside a string; read them as empty.
_ELIDED = ((re.compile(r"\[\s*…\s*\]"), "[]"), (re.compile(r"\{…\}"), "null"))


def fixture(name: str):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for pattern, replacement in _ELIDED:
        text = pattern.sub(replacement, text)
    return json.loads(text)


WONDE_STUDENT_CORE = {
    "school_urn": URN,
    "connector": "wonde",
    "connector_pupil_id": "A1039521228",
    "upi": "36e4f5c3264740a3af91abb6c50094d2",
    "mis_id": "9919",
    "upn": "A123456789012",
    "former_upn": None,
    "legal_forename": "Manuel",
    "legal_surname": "Shields",
    "forename": "Manuel",
    "surname": "Shields",
    "middle_names": "Chris",
    "date_of_birth": date(2002, 9, 29),
    "sex": "M",
    "nc_year": "10",
    "admission_date": date(2012, 9, 1),
    "leaving_date": None,
    "source_updated_at": datetime(2016, 10, 4, 8, 48, 52, tzinfo=UTC),
}


def test_the_documented_wonde_student_with_its_includes_is_the_core_record():
    student = fixture("wonde_student.json")
    assert normalise_wonde_student(student, URN, RECEIVED) == WONDE_STUDENT_CORE
    # The document shows no extended_details, so there are no additional details to take.
    assert normalise_wonde_details(student, URN, RECEIVED) is None


def test_a_wonde_leaver_is_the_documented_student_with_a_leaving_date_in_education_details():
    student = fixture("wonde_student.json")  # derived: the document shows no leaver of its own
    student["education_details"]["data"]["leaving_date"] = {
        "date": "2016-07-22 00:00:00.000000",
        "timezone_type": 3,
        "timezone": "Europe/London",
    }
    assert normalise_wonde_student(student, URN, RECEIVED) == {
        **WONDE_STUDENT_CORE,
        "leaving_date": date(2016, 7, 22),
    }


def test_the_documented_wonde_deletion_marks_the_pupil_deleted_by_mis_id():
    assert student_deletions(fixture("wonde_deletions.json")["data"]) == (["7338"], [])


def test_the_documented_wonde_attendance_mark_with_its_code_included_is_a_session():
    mark = {**fixture("wonde_attendance.json"), **fixture("wonde_attendance_code_include.json")}
    assert normalise_wonde_attendance(mark, URN, {"A1039521228": "9919"}, RECEIVED) == {
        "school_urn": URN,
        "pupil_mis_id": "9919",
        "session_date": date(2024, 9, 10),
        "session": "AM",
        "mark": "/",
        "source_updated_at": datetime(2024, 9, 10, 9, 12, 1, tzinfo=UTC),
    }


def test_the_documented_wonde_attendance_mark_without_its_code_include_is_a_named_defect():
    with pytest.raises(
        RecordDefect, match=r"^attendance_code: not included \(ask with include=attendance_code\)$"
    ):
        normalise_wonde_attendance(fixture("wonde_attendance.json"), URN, {"A1039521228": "9919"}, RECEIVED)


def test_the_documented_wonde_result_lands_without_the_elided_dates():
    result = fixture("wonde_result.json")
    assert normalise_wonde_result(
        result, URN, {"A…": "9919"}, {"A…": "Reading"}, {"A…": "2024/25 Autumn"}, RECEIVED
    ) == {
        "school_urn": URN,
        "pupil_mis_id": "9919",
        "aspect_name": "Reading",
        "result_set_name": "2024/25 Autumn",
        "result": "6C",
        "result_date": None,
        "source_updated_at": RECEIVED,
    }


def test_the_documented_wonde_school_and_permission():
    assert normalise_wonde_school(fixture("wonde_school.json")["data"]) == {
        "connector_school_id": "A1930499544",
        "urn": "10003",
        "la_code": "10000",
        "establishment_number": "10000",
        "name": "Wonde Testing School",
        "phase_of_education": "SECONDARY",
        "mis": "SIMS",
    }
    assert granted_scopes(fixture("wonde_permissions.json")["data"]) == ["core"]


RECORDED_XOD_UPDATED = datetime(2018, 6, 12, 2, 7, 21, 30000, tzinfo=UTC)


def test_the_recorded_xod_student_is_the_core_record_and_its_details():
    [student] = fixture("xod_students.json")["Students"]
    assert normalise_xod_student(student, URN, RECEIVED) == {
        "school_urn": URN,
        "connector": "xod",
        "connector_pupil_id": "3116",
        "upi": "05a289a1-d579-4285-b050-894f5e11e04a",
        "mis_id": "3116",
        "upn": None,
        "former_upn": None,
        "legal_forename": "Albus",
        "legal_surname": "Dumbledore",
        "forename": "Albus",
        "surname": "Dumbledore",
        "middle_names": None,
        "date_of_birth": date(2009, 1, 12),
        "sex": "M",
        "nc_year": "4",
        "admission_date": date(2012, 9, 1),
        "leaving_date": None,
        "source_updated_at": RECORDED_XOD_UPDATED,
    }
    assert normalise_xod_details(student, URN, RECEIVED) == {
        "school_urn": URN,
        "pupil_mis_id": "3116",
        "sen_status": "K",
        "fsm_eligible": False,
        "pupil_premium": False,
        "eal": True,
        "first_language": "ENG",
        "ethnicity": "ABAN",
        "in_care": False,
        "source_updated_at": RECORDED_XOD_UPDATED,
    }


def test_the_documented_xod_attendance_mark_has_no_last_updated_and_takes_the_syncs_time():
    [mark] = fixture("xod_attend_marks.json")["AttendMarks"]
    assert normalise_xod_attendance(mark, URN, RECEIVED) == {
        "school_urn": URN,
        "pupil_mis_id": "9919",
        "session_date": date(2016, 8, 26),
        "session": "AM",
        "mark": "L",
        "source_updated_at": RECEIVED,
    }


def test_the_documented_xod_result_is_named_from_the_assessment_structure_and_takes_the_syncs_time():
    result = fixture("xod_asm_result.json")
    assert normalise_xod_result(result, URN, {"702": "Reading"}, {"24": "2015/16 Autumn"}, RECEIVED) == {
        "school_urn": URN,
        "pupil_mis_id": "9919",
        "aspect_name": "Reading",
        "result_set_name": "2015/16 Autumn",
        "result": "6C",
        "result_date": date(2015, 9, 3),
        "source_updated_at": RECEIVED,
    }


def test_the_documented_xod_group_and_a_student_member_are_a_year_group_membership():
    # The document lists a StudentMembers row's fields only; its values here follow the group's.
    member = {
        "Id": "GY-31.PL-9660",
        "GroupId": "31",
        "StudentId": "9660",
        "GroupExternalId": "013e06d4-…",
        "StudentExternalId": None,
        "StudentIdaasId": "PL-9660",
        "GroupIdaasId": "GY-31",
        "RowHash": "…",
        "LastUpdated": "2017-12-20T01:38:21.48",
    }
    assert normalise_xod_group(fixture("xod_group.json"), member, URN, RECEIVED) == {
        "school_urn": URN,
        "pupil_mis_id": "9660",
        "group_type": "year",
        "group_code": "1",
        "group_name": "Year 1",
        "source_updated_at": datetime(2017, 12, 20, 1, 38, 21, 480000, tzinfo=UTC),
    }


def changeset(requested: str, body: dict) -> tuple[XodChangeset, list[list[dict]]]:
    changes = XodChangeset("3281101", "Students", "Students", requested, iter([body]))
    return changes, list(changes.pages())


def test_the_documented_first_changed_rows_envelope_is_a_full_read_with_its_next_hash():
    changes, pages = changeset(
        "*", {"Students": [], "Students_deleted": [], **fixture("xod_changed_rows_first.json")}
    )
    assert (changes.full, changes.next_cursor, changes.deleted_ids, pages) == (
        True,
        "db69412c98782c1dd76addcad9b45be0",
        [],
        [[]],
    )


def test_the_recorded_delta_names_changed_and_deleted_students_and_a_trimmed_row_is_quarantined_by_field():
    changes, [rows] = changeset("0414…", fixture("xod_changed_rows_delta.json"))
    assert (changes.full, changes.next_cursor, changes.deleted_ids) == (False, "0414…", ["3221", "3920"])
    trimmed = normalise_xod_student(rows[0], URN, RECEIVED)  # the fixture's author trimmed rows to Id
    assert trimmed == {key: None for key in WONDE_STUDENT_CORE} | {
        "school_urn": URN,
        "connector": "xod",
        "connector_pupil_id": "3116",
        "mis_id": "3116",
        "source_updated_at": RECEIVED,
    }
    _, [rejected] = split_valid(PUPILS, [{**trimmed, "pupil_key": "k"}])
    assert rejected.rule == "upi: missing"


def test_the_documented_error_body_under_http_200_is_an_error():
    assert has_exception(fixture("xod_error.json"))
