"""The simulator's other Wonde data items over loopback HTTP: extended details, session
attendance, assessment and groups (shapes per connectors.md §1.4, §3.2-3.6)."""

from __future__ import annotations

from datetime import date

import pytest
import requests

from mis_pipeline_tests.simulator.support import SEED, TOKEN, bearer, get
from mis_simulator.datasets import PM_PRESENT, build_school_datasets
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer


def granted_school(population, *permissions: str, secondary: bool = False):
    """An approved Wonde school granted `permissions` (default: every permission)."""
    for school in population.schools_on("wonde"):
        if school.approved and all(school.permissions[p] for p in permissions or school.permissions):
            if not secondary or school.phase_of_education != "PRIMARY":
                return school
    raise AssertionError("no fully granted school in the test population")


def lacking(population, permission: str):
    return next(s for s in population.schools_on("wonde") if s.approved and not s.permissions[permission])


def all_rows(server, path, params=None):
    rows, params = [], dict(params or {}, per_page="200")
    body = get(server, path, params).json()
    rows.extend(body["data"])
    while body["meta"]["pagination"]["next"]:
        response = get_url(body["meta"]["pagination"]["next"])
        body = response.json()
        rows.extend(body["data"])
    return rows


def get_url(url):
    return requests.get(url, headers=bearer(), timeout=10)


def test_extended_details_include_carries_the_census_fields(server, population):
    school = granted_school(population)
    truth = build_school_datasets(population.seed, school).details
    body = get(
        server, f"schools/{school.id}/students", {"include": "education_details,extended_details"}
    ).json()
    assert "extended_details" in body["meta"]["includes"]
    for record in body["data"]:
        details = truth[record["id"]]
        data = record["extended_details"]["data"]
        assert data["sen_status"] == details.sen_status and data["sen_status"] in ("N", "K", "E")
        assert data["free_school_meals"] is details.fsm_eligible
        assert data["premium_pupil_indicator"] is details.pupil_premium
        assert data["english_as_additional_language_status"] == (
            "Other than English" if details.eal else "English"
        )
        assert data["first_language"]["code"] == details.first_language
        assert data["ethnicity"]["code"] == details.ethnicity
        assert data["in_care"] is details.in_care
        assert "education_details" in record


def test_extended_details_are_only_sent_when_asked_for(server, population):
    school = granted_school(population)
    body = get(server, f"schools/{school.id}/students", {"include": "education_details"}).json()
    assert all("extended_details" not in record for record in body["data"])


def test_extended_details_are_silently_omitted_without_the_optional_permission(server, population):
    school = lacking(population, "students.extended.read")
    response = get(server, f"schools/{school.id}/students", {"include": "education_details,extended_details"})
    assert response.status_code == 200
    records = response.json()["data"]
    assert records and all("extended_details" not in r and "education_details" in r for r in records)


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("attendance/session", "attendance.read"),
        ("assessment/aspects", "assessment.read"),
        ("assessment/resultsets", "assessment.read"),
        ("assessment/results", "assessment.read"),
        ("groups", "groups.read"),
    ],
)
def test_each_data_item_is_403_without_its_permission(server, population, path, permission):
    school = lacking(population, permission)
    assert get(server, f"schools/{school.id}/{path}").status_code == 403
    assert get(server, f"schools/{granted_school(population).id}/{path}").status_code == 200


def test_data_items_are_403_for_a_school_that_has_not_approved(server, population):
    pending = next(s for s in population.schools if s.approval == "pending")
    for path in ("attendance/session", "assessment/results", "groups"):
        assert get(server, f"schools/{pending.id}/{path}").status_code == 403


def test_an_unknown_data_item_is_404(server, population):
    assert get(server, f"schools/{granted_school(population).id}/assessment/templates").status_code == 404


def test_attendance_marks_match_the_ground_truth_and_keep_the_backslash(server, population):
    school = granted_school(population)
    truth = build_school_datasets(population.seed, school).attendance
    response = get(
        server,
        f"schools/{school.id}/attendance/session",
        {"include": "attendance_code", "per_page": "200", "date_from": "2026-09-07", "date_to": "2026-09-07"},
    )
    assert b'"code":"\\\\"' in response.content  # the PM mark escaped once in JSON
    marks = response.json()["data"]
    expected = [m for m in truth if m.date == date(2026, 9, 7)]
    assert [(m["id"], m["student"], m["session"], m["attendance_code"]["data"]["code"]) for m in marks] == [
        (m.id, m.pupil_id, m.session, m.code) for m in expected
    ]
    assert any(m["attendance_code"]["data"]["code"] == PM_PRESENT for m in marks)
    first = marks[0]
    assert first["date"] == {
        "date": "2026-09-07 00:00:00.000000",
        "timezone_type": 3,
        "timezone": "Europe/London",
    }
    assert set(first) == {
        "id",
        "student",
        "attendance_code",
        "employee",
        "session",
        "date",
        "comment",
        "minutes_late",
        "created_at",
        "updated_at",
    }
    assert set(first["attendance_code"]["data"]) == {"id", "code", "description", "type"}


def test_attendance_code_is_a_bare_id_unless_included(server, population):
    school = granted_school(population)
    mark = get(server, f"schools/{school.id}/attendance/session", {"per_page": "1"}).json()["data"][0]
    assert isinstance(mark["attendance_code"], str) and mark["attendance_code"].startswith("A")


def test_attendance_date_range_and_updated_filters(server, population):
    school = granted_school(population)
    truth = build_school_datasets(population.seed, school).attendance
    rows = all_rows(
        server,
        f"schools/{school.id}/attendance/session",
        {"date_from": "2026-09-08", "date_to": "2026-09-10"},
    )
    assert [r["id"] for r in rows] == [m.id for m in truth if date(2026, 9, 8) <= m.date <= date(2026, 9, 10)]
    # marks are stamped 17:00 UTC on their day, and the filter is strict
    rows = all_rows(
        server, f"schools/{school.id}/attendance/session", {"updated_after": "2026-09-17 17:00:00"}
    )
    assert rows and {r["date"]["date"][:10] for r in rows} == {"2026-09-18"}
    assert (
        get(server, f"schools/{school.id}/attendance/session", {"date_from": "not-a-date"}).status_code == 422
    )


def test_attendance_paginates_with_the_students_quirks(server, population):
    school = granted_school(population)
    body = get(server, f"schools/{school.id}/attendance/session").json()
    assert len(body["data"]) == 50  # default page size; pagination shown because the total is larger
    pagination = body["meta"]["pagination"]
    assert pagination["more"] is True and pagination["previous"] is None and pagination["per_page"] == 50
    second = get_url(pagination["next"]).json()
    assert second["meta"]["pagination"]["current_page"] == 2
    assert {r["id"] for r in body["data"]}.isdisjoint(r["id"] for r in second["data"])


def test_assessment_aspects_result_sets_and_results(server, population):
    school = granted_school(population, "assessment.read", secondary=True)
    truth = build_school_datasets(population.seed, school)
    aspects = get(server, f"schools/{school.id}/assessment/aspects").json()
    assert "pagination" not in aspects["meta"]
    assert [(a["id"], a["name"]) for a in aspects["data"]] == [(a.id, a.name) for a in truth.aspects]
    sets = get(server, f"schools/{school.id}/assessment/resultsets").json()["data"]
    assert [(r["id"], r["name"]) for r in sets] == [(r.id, r.name) for r in truth.result_sets]
    results = all_rows(server, f"schools/{school.id}/assessment/results")
    assert [(r["id"], r["student"], r["aspect"], r["result_set"], r["result"]) for r in results] == [
        (r.id, r.pupil_id, r.aspect_id, r.result_set_id, r.result) for r in truth.results
    ]
    assert set(results[0]) == {
        "id",
        "student",
        "aspect",
        "result_set",
        "result",
        "result_date",
        "created_at",
        "updated_at",
    }
    later = all_rows(server, f"schools/{school.id}/assessment/results", {"updated_after": "2026-08-01"})
    assert {r["result_set"] for r in later} == {truth.result_sets[1].id}


def test_groups_with_students(server, population):
    school = granted_school(population, "groups.read", secondary=True)
    truth = build_school_datasets(population.seed, school).groups
    groups = all_rows(server, f"schools/{school.id}/groups", {"include": "students"})
    assert [
        (g["id"], g["code"], g["name"], g["type"], [s["id"] for s in g["students"]["data"]]) for g in groups
    ] == [(g.id, g.code, g.name, g.type.upper(), g.member_ids) for g in truth]
    assert {g["type"] for g in groups} == {"YEAR", "REGISTRATION", "HOUSE", "TEACHING"}
    assert all(isinstance(g["mis_id"], str) for g in groups)
    bare = get(server, f"schools/{school.id}/groups", {"per_page": "1"}).json()["data"][0]
    assert "students" not in bare
    assert get(server, f"schools/{school.id}/groups", {"updated_after": "2026-09-22"}).json()["data"] == []


def test_datasets_are_cached_per_school_and_cleared_by_invalidate():
    population = build_population(SEED, 2, 5)
    with SimulatorServer(population, token=TOKEN) as server:
        school = population.schools[0]
        first = server.wonde.datasets(school)
        assert server.wonde.datasets(school) is first
        before = get(server, f"schools/{school.id}/groups", {"include": "students"}).json()["data"]
        school.pupils.pop()
        server.invalidate_cache()
        assert server.wonde.datasets(school) is not first
        after = get(server, f"schools/{school.id}/groups", {"include": "students"}).json()["data"]
        count = lambda groups: sum(len(g["students"]["data"]) for g in groups)  # noqa: E731
        assert count(after) == count(before) - 3  # a primary pupil is in a year, form and house
