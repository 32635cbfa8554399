"""Wonde's other data items end to end: the real simulator over loopback HTTP, the client helpers
in `wonde_datasets`, and the normalisers, compared exactly with the simulator's ground truth."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from mis_pipeline.connectors.canonical import CANONICAL_FIELDS, RecordDefect
from mis_pipeline.connectors.errors import NotAuthorisedError
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.wonde.datasets import (
    fetch_mis_ids,
    iter_assessment,
    iter_attendance_pages,
    iter_group_pages,
    iter_students_with_details,
)
from mis_pipeline.connectors.wonde.normalise import (
    normalise_wonde_attendance,
    normalise_wonde_details,
    normalise_wonde_group,
    normalise_wonde_result,
    normalise_wonde_student,
)
from mis_pipeline_tests.simulator.support import TOKEN
from mis_simulator.datasets import ATTENDANCE_START, PM_PRESENT, build_school_datasets, school_days

UTC = UTC
FIRST_DAY, LAST_DAY = ATTENDANCE_START, school_days(ATTENDANCE_START, 10)[-1]


@pytest.fixture()
def wonde(server, loopback_allowed):
    """Bigger pages than the shared `client` (7), to keep the full round trips quick."""
    server.faults.clear()
    return WondeResource(
        api_url=server.wonde_url,
        api_token=TOKEN,
        per_page=100,
        backoff_factor=0.01,
        max_retries=3,
        requests_per_second=0,
    )


def granted(population, *permissions: str, secondary: bool = False):
    return next(
        s
        for s in population.schools_on("wonde")
        if s.approved
        and all(s.permissions[p] for p in permissions)
        and (not secondary or s.phase_of_education != "PRIMARY")
    )


def lacking(population, permission: str):
    return next(s for s in population.schools_on("wonde") if s.approved and not s.permissions[permission])


def mis_ids(school) -> dict[str, str]:
    return {pupil.id: pupil.mis_id for pupil in school.pupils}


def at_17(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, tzinfo=UTC)


# -- ground truth ------------------------------------------------------------------------------
def expected_details(population, school) -> list[dict]:
    truth = build_school_datasets(population.seed, school).details
    return [
        {
            "school_urn": school.urn,
            "pupil_mis_id": pupil.mis_id,
            "sen_status": d.sen_status,
            "fsm_eligible": d.fsm_eligible,
            "pupil_premium": d.pupil_premium,
            "eal": d.eal,
            "first_language": d.first_language,
            "ethnicity": d.ethnicity,
            "in_care": d.in_care,
            "source_updated_at": d.updated_at,
        }
        for pupil in school.pupils
        for d in [truth[pupil.id]]
    ]


def expected_marks(population, school, keep=lambda mark: True) -> list[dict]:
    return [
        {
            "school_urn": school.urn,
            "pupil_mis_id": m.mis_id,
            "session_date": m.date,
            "session": m.session,
            "mark": m.code,
            "source_updated_at": m.updated_at,
        }
        for m in build_school_datasets(population.seed, school).attendance
        if keep(m)
    ]


def expected_results(population, school, keep=lambda result: True) -> list[dict]:
    truth = build_school_datasets(population.seed, school)
    aspects = {a.id: a.name for a in truth.aspects}
    sets = {r.id: r.name for r in truth.result_sets}
    return [
        {
            "school_urn": school.urn,
            "pupil_mis_id": r.mis_id,
            "aspect_name": aspects[r.aspect_id],
            "result_set_name": sets[r.result_set_id],
            "result": r.result,
            "result_date": r.result_date,
            "source_updated_at": r.updated_at,
        }
        for r in truth.results
        if keep(r)
    ]


def expected_groups(population, school) -> list[dict]:
    by_id = mis_ids(school)
    return [
        {
            "school_urn": school.urn,
            "pupil_mis_id": by_id[member],
            "group_type": g.type,
            "group_code": g.code,
            "group_name": g.name,
            "source_updated_at": g.updated_at,
        }
        for g in build_school_datasets(population.seed, school).groups
        for member in g.member_ids
    ]


# -- round trips -------------------------------------------------------------------------------
def test_mis_id_map_matches_the_population(wonde, population):
    school = granted(population)
    assert fetch_mis_ids(wonde, school.id) == mis_ids(school)


def test_details_round_trip_exactly_with_names_untouched(wonde, population):
    school = granted(population, "students.extended.read")
    pages = list(iter_students_with_details(wonde, school.id))
    records = [record for page in pages for record in page]
    rows = [normalise_wonde_details(record, school.urn) for record in records]
    assert rows == expected_details(population, school)
    assert all(tuple(row) == CANONICAL_FIELDS["pupil_details"] for row in rows)
    # the same pass still feeds the core record, non-ASCII names and the UPN included
    core = [normalise_wonde_student(record, school.urn) for record in records]
    assert [(c["mis_id"], c["forename"], c["surname"], c["legal_forename"], c["upn"]) for c in core] == [
        (p.mis_id, p.forename, p.surname, p.legal_forename, p.upn) for p in school.pupils
    ]
    assert any(not (p.forename + p.surname + p.legal_forename).isascii() for p in school.pupils)


def test_details_are_none_when_the_optional_permission_is_withheld(wonde, population):
    school = lacking(population, "students.extended.read")
    records = [record for page in iter_students_with_details(wonde, school.id) for record in page]
    assert len(records) == len(school.pupils)
    assert [normalise_wonde_details(record, school.urn) for record in records] == [None] * len(records)
    assert all(normalise_wonde_student(record, school.urn)["upn"] for record in records)


def test_attendance_round_trips_exactly_including_the_backslash(wonde, population):
    school = granted(population, "attendance.read")
    by_id = mis_ids(school)
    rows = [
        normalise_wonde_attendance(raw, school.urn, by_id)
        for page in iter_attendance_pages(wonde, school.id, FIRST_DAY, LAST_DAY)
        for raw in page
    ]
    assert rows == expected_marks(population, school)
    assert any(row["mark"] == PM_PRESENT == "\\" and row["session"] == "PM" for row in rows)
    assert all(tuple(row) == CANONICAL_FIELDS["attendance_sessions"] for row in rows)


def test_attendance_date_range_and_updated_after(wonde, population):
    school = granted(population, "attendance.read")
    by_id = mis_ids(school)
    second, third = school_days(ATTENDANCE_START, 3)[1:]
    rows = [
        normalise_wonde_attendance(raw, school.urn, by_id)
        for page in iter_attendance_pages(wonde, school.id, second, third)
        for raw in page
    ]
    assert rows == expected_marks(population, school, lambda m: second <= m.date <= third)
    # marks are stamped at 17:00 UTC on their day; updated_after is strict
    since = at_17(second)
    rows = [
        normalise_wonde_attendance(raw, school.urn, by_id)
        for page in iter_attendance_pages(wonde, school.id, FIRST_DAY, LAST_DAY, updated_after=since)
        for raw in page
    ]
    assert rows == expected_marks(population, school, lambda m: m.updated_at > since)
    assert {row["session_date"] for row in rows} == set(school_days(ATTENDANCE_START, 10)[2:])


def test_assessment_round_trips_exactly(wonde, population):
    school = granted(population, "assessment.read", secondary=True)
    by_id = mis_ids(school)
    rows = [
        normalise_wonde_result(raw, school.urn, by_id, aspects, sets)
        for results, aspects, sets in iter_assessment(wonde, school.id)
        for raw in results
    ]
    assert rows == expected_results(population, school)
    assert all(tuple(row) == CANONICAL_FIELDS["assessment_results"] for row in rows)


def test_assessment_updated_after_keeps_names_for_unchanged_aspects(wonde, population):
    school = granted(population, "assessment.read")
    by_id = mis_ids(school)
    since = datetime(2026, 8, 1, tzinfo=UTC)
    rows = [
        normalise_wonde_result(raw, school.urn, by_id, aspects, sets)
        for results, aspects, sets in iter_assessment(wonde, school.id, updated_after=since)
        for raw in results
    ]
    assert rows and rows == expected_results(population, school, lambda r: r.updated_at > since)


def test_groups_round_trip_exactly(wonde, population):
    school = granted(population, "groups.read", secondary=True)
    by_id = mis_ids(school)
    rows = [
        row
        for page in iter_group_pages(wonde, school.id)
        for raw in page
        for row in normalise_wonde_group(raw, school.urn, by_id)
    ]
    assert rows == expected_groups(population, school)
    assert {row["group_type"] for row in rows} == {"year", "registration", "house", "teaching"}
    assert all(tuple(row) == CANONICAL_FIELDS["pupil_groups"] for row in rows)
    later = build_school_datasets(population.seed, school).groups[0].updated_at + timedelta(seconds=1)
    assert [page for page in iter_group_pages(wonde, school.id, updated_after=later)] == [[]]


# -- pagination, permissions, quarantine -------------------------------------------------------
def test_every_helper_follows_several_pages(client, server, population):
    """The shared `client` asks for 7 per page."""
    school = granted(population, "groups.read", "assessment.read", "attendance.read")
    truth = build_school_datasets(population.seed, school)
    server.clear_request_log()
    group_pages = list(iter_group_pages(client, school.id))
    assert len(group_pages) == math.ceil(len(truth.groups) / 7) > 1
    result_pages = list(iter_assessment(client, school.id))
    assert len(result_pages) == math.ceil(len(truth.results) / 7) > 1
    assert [raw["id"] for page in result_pages for raw in page.results] == [r.id for r in truth.results]
    paths = [record.path for record in server.request_log]
    assert paths.count(f"/v1.0/schools/{school.id}/assessment/aspects") == 1
    assert paths.count(f"/v1.0/schools/{school.id}/assessment/resultsets") == 1
    day = school_days(ATTENDANCE_START, 1)[0]
    mark_pages = list(iter_attendance_pages(client, school.id, day, day))
    assert len(mark_pages) == math.ceil(2 * len(school.pupils) / 7) > 1


@pytest.mark.parametrize(
    ("permission", "fetch"),
    [
        ("attendance.read", lambda w, s: iter_attendance_pages(w, s, FIRST_DAY, LAST_DAY)),
        ("assessment.read", lambda w, s: iter_assessment(w, s)),
        ("groups.read", lambda w, s: iter_group_pages(w, s)),
    ],
)
def test_a_withheld_permission_is_not_authorised(wonde, population, permission, fetch):
    school = lacking(population, permission)
    with pytest.raises(NotAuthorisedError) as caught:
        next(iter(fetch(wonde, school.id)))
    assert caught.value.status == 403 and caught.value.school_id == school.id


def test_a_mark_for_an_unknown_student_is_a_defect_naming_the_student_field(wonde, population):
    school = granted(population, "attendance.read")
    raw = next(iter(iter_attendance_pages(wonde, school.id, FIRST_DAY, FIRST_DAY)))[0]
    known = mis_ids(school)
    del known[raw["student"]]
    with pytest.raises(RecordDefect, match="^student: not a pupil of this school$"):
        normalise_wonde_attendance(raw, school.urn, known)
