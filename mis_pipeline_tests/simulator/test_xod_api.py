"""The XoD simulator over real loopback HTTP: tokens, envelope, pagination, changedRows, errors.

The `xod_server` helper (support.py) is the plain `SimulatorServer`, which mounts XoD under `/api/`.
"""

from __future__ import annotations

import pytest
import requests

from mis_pipeline_tests.simulator.support import RP, SEED, idaas, xod_server
from mis_pipeline_tests.simulator.support import xod_get as get
from mis_pipeline_tests.simulator.support import xod_token as token_for
from mis_simulator.population import build_population
from mis_simulator.xod_api import (
    BAD_SECRET_MESSAGE,
    PAUSED_MESSAGE,
    estab_of,
    granted_scopes,
    school_secret,
)


@pytest.fixture(scope="module")
def xod():
    population = build_population(SEED, 12, 23)
    with xod_server(population) as running:
        yield running


def test_get_token_accepts_keys_in_any_case_and_returns_a_five_day_opaque_token(xod):
    _, api, base = xod
    school = api.population.schools[0]
    answer = requests.post(
        f"{base}/oauth/GetToken",
        timeout=10,
        json={
            "ESTAB": estab_of(school),
            "RelyingParty": RP,
            "Password": school_secret(school),
            "thirdPartyId": "x",
        },
    )
    body = answer.json()
    assert answer.status_code == 200 and body["ExceptionMessage"] is None and len(body["token"]) > 800
    assert body["expires"].endswith("0Z") and set(body) == {
        "token",
        "expires",
        "Message",
        "ExceptionType",
        "ExceptionMessage",
        "InnerException",
    }


def test_bad_secret_revoked_and_paused_schools_get_the_recorded_answers(xod):
    _, api, base = xod
    approved, pending, revoked = (
        api.population.schools_in_state(state)[0] for state in ("approved", "pending", "revoked")
    )
    bad = token_for(base, approved, password="wrong").json()
    assert bad["token"] is None and bad["expires"] == "0001-01-01T00:00:00"
    assert bad["ExceptionMessage"] == BAD_SECRET_MESSAGE
    assert token_for(base, revoked).json()["ExceptionMessage"] == BAD_SECRET_MESSAGE
    paused = token_for(base, pending).json()
    assert paused["token"] is None and paused["ExceptionMessage"] == PAUSED_MESSAGE


def test_data_calls_need_the_idaas_scheme(xod):
    _, api, base = xod
    school = api.population.schools[0]
    token = token_for(base, school).json()["token"]
    assert get(base, school, "Students", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert requests.get(f"{base}/v1/School/{estab_of(school)}/Students", timeout=10).status_code == 401
    answer = get(base, school, "Students", headers={"Authorization": f"Idaas {token}"})
    assert answer.status_code == 200 and len(answer.json()["Students"]) == 23


def test_token_details_lists_the_granted_scopes(xod):
    _, api, base = xod
    school = api.population.schools[0]
    details = requests.get(f"{base}/v1/TokenDetails", headers=idaas(base, school), timeout=10).json()
    assert details["Estab"] == estab_of(school) and details["Scopes"] == granted_scopes(school)
    assert {"Student", "UPN", "StudentExtended", "Attendance", "AssessmentResults", "School"} <= set(
        details["Scopes"]
    )


def test_students_have_the_recorded_shape_and_path_segments_are_case_insensitive(xod):
    _, api, base = xod
    school = api.population.schools[0]
    token = idaas(base, school)
    url = f"{base}/V1/school/{estab_of(school)}/STUDENTS"
    body = requests.get(url, headers=token, timeout=10).json()
    row = body["Students"][0]
    pupil = school.pupils[0]
    assert row["Id"] == pupil.mis_id and row["IdaasId"] == f"PL-{pupil.mis_id}" and row["UPN"] == pupil.upn
    assert row["Gender"] in ("M", "F") and row["DateofBirth"] == pupil.date_of_birth.isoformat()
    assert row["ServiceChild"] == "0" and row["FSMEligible"] in (0, 1)
    assert "T" in row["LastUpdated"] and not row["LastUpdated"].endswith("Z")
    assert body["meta"][0]["Id"] == 1 and body["StudentSiblings"] == [] and "__pagination__" not in body
    by_id = {p.mis_id: p for p in school.pupils}
    single_digit = next(
        r
        for r in body["Students"]
        if by_id.get(r["Id"])
        and by_id[r["Id"]].current_nc_year.isdigit()
        and len(by_id[r["Id"]].current_nc_year) == 1
    )
    assert (
        single_digit["YearGroup"] == f"Year  {by_id[single_digit['Id']].current_nc_year}"
    )  # the SIMS double space
    assert "NCYear" not in single_digit and "FormerUPN" not in single_digit  # not in the recording


DOCUMENTED = {  # connectors.md §2.3: the fields shown on each record
    "AttendMarks": {"Id", "Date", "InstanceId", "StudentId", "Mark", "MinsLate", "Notes", "Type", "Session"},
    "AsmResults": {"Id", "StudentId", "AspectId", "ResultDate", "ResultSetId", "Result", "Notes"},
}


@pytest.mark.parametrize("inferred", [False, True])
def test_marks_and_results_carry_only_documented_fields_unless_inferred_fields_are_asked_for(xod, inferred):
    _, api, base = xod
    school = api.population.schools[0]
    with xod_server(api.population, inferred_fields=inferred) as (_, _, url):
        marks = get(
            url,
            school,
            "AttendanceForDateRange",
            {"DateFrom": "2026-09-01", "DateTo": "2026-12-31", "SessionType": "AM"},
        ).json()["AttendMarks"]
        results = get(url, school, "assessmentresults", {"Students": school.pupils[0].mis_id}).json()[
            "AsmResults"
        ]
        student = get(url, school, "Students").json()["Students"][0]
    extra = {"LastUpdated", "RowHash"} if inferred else set()
    assert {frozenset(row) for row in marks} == {frozenset(DOCUMENTED["AttendMarks"] | extra)}
    assert {frozenset(row) for row in results} == {frozenset(DOCUMENTED["AsmResults"] | extra)}
    assert {"NCYear", "FormerUPN"} <= set(student) if inferred else not {"NCYear", "FormerUPN"} & set(student)


def test_fields_outside_the_granted_scopes_are_absent(xod):
    _, api, base = xod
    school = next(s for s in api.population.approved_schools() if not s.permissions["students.extended.read"])
    row = get(base, school, "Students").json()["Students"][0]
    # The simulator's server gives DateofBirth with the Student scope, so every core record lands;
    # real XoD (and `dob_needs_extended_scope=True`) wants StudentExtended for it.
    assert "UPN" in row and "SENProvision" not in row and row["DateofBirth"]
    with xod_server(api.population, dob_needs_extended_scope=True) as (_, _, strict):
        assert "DateofBirth" not in get(strict, school, "Students").json()["Students"][0]
    lacking = next(s for s in api.population.approved_schools() if not s.permissions["attendance.read"])
    answer = get(
        base,
        lacking,
        "AttendanceForDateRange",
        {"DateFrom": "2026-09-07", "DateTo": "2026-09-07", "SessionType": "AM"},
    )
    assert answer.status_code == 200 and "scope" in answer.json()["ExceptionMessage"]


def test_pagination_emits_next_page_even_on_the_last_page_and_empty_arrays_beyond(xod):
    _, api, base = xod
    school = api.population.schools[0]
    token = idaas(base, school)
    pages = [get(base, school, "Students", {"page": n, "pageSize": 10}, token).json() for n in (1, 2, 3, 4)]
    assert [len(page["Students"]) for page in pages] == [10, 10, 3, 0]
    last = pages[2]["__pagination__"][0]
    assert last == {
        "PageSize": 10,
        "PageNumber": 3,
        "PageCount": 3,
        "RowCount": 23,
        "NextPage": "?page=4&pageSize=10",
    }
    assert pages[0]["meta"] and pages[1]["meta"] == [] and pages[3]["meta"] == []


def test_attendance_needs_its_mandatory_parameters_and_keeps_the_backslash(xod):
    _, api, base = xod
    school = api.population.schools[0]
    token = idaas(base, school)
    missing = get(
        base, school, "AttendanceForDateRange", {"DateFrom": "2026-09-07", "DateTo": "2026-09-11"}, token
    )
    assert missing.status_code == 200 and "SessionType" in missing.json()["ExceptionMessage"]
    answer = get(
        base,
        school,
        "AttendanceForDateRange",
        {"DateFrom": "2026-09-07", "DateTo": "2026-09-11", "SessionType": "PM"},
        token,
    )
    assert b'"Mark":"\\\\"' in answer.content  # JSON-escaped backslash on the wire
    rows = answer.json()["AttendMarks"]
    assert len(rows) == 23 * 5 and {row["Session"] for row in rows} == {"PM"}
    assert any(row["Mark"] == "\\" for row in rows)
    assert rows[0]["Id"] == f"{rows[0]['StudentId']}.{rows[0]['Date']}.PM"


def test_assessment_results_need_a_filter(xod):
    _, api, base = xod
    school = api.population.schools[0]
    token = idaas(base, school)
    assert get(base, school, "assessmentresults", None, token).json()["ExceptionMessage"]
    structure = get(base, school, "AssessmentStructure", None, token).json()
    aspects = ",".join(row["Id"] for row in structure["Aspects"])
    rows = get(base, school, "assessmentresults", {"Aspects": aspects}, token).json()["AsmResults"]
    assert len(rows) == 23 * 2 * 3 and {
        "StudentId",
        "AspectId",
        "ResultSetId",
        "Result",
        "ResultDate",
    } <= set(rows[0])


def test_groups_list_types_and_members(xod):
    _, api, base = xod
    school = api.population.schools[0]
    body = get(base, school, "Groups", {"options": "includeStudentMembers"}).json()
    assert {row["Type"] for row in body["Group"]} >= {"YearGrp", "RegGrp", "HouseGrp"}
    assert len(body["StudentMembers"]) == sum(row["NumStudents"] for row in body["Group"])
    only_years = get(base, school, "Groups", {"Type": "YearGrp"}).json()
    assert {row["Type"] for row in only_years["Group"]} == {"YearGrp"} and "StudentMembers" not in only_years


def test_changed_rows_full_then_delta_then_footgun_then_unknown():
    population = build_population(SEED, 3, 15)
    with xod_server(population) as (_, api, base):
        school = population.schools[1]
        token = idaas(base, school)
        params = {"options": "includeLeavers"}
        full = get(base, school, "Students", {**params, "changedRows": "*"}, token).json()
        assert len(full["Students"]) == 15 and full["Students_deleted"] == []
        first = full["__changedRows__"][0]["NextChangedRows"]
        same = get(base, school, "Students", {**params, "changedRows": first}, token).json()
        assert same["Students"] == [] and same["Students_deleted"] == []
        changed, removed = school.pupils[3], school.pupils[7]
        changed.surname = "Changed-Surname"
        school.pupils.remove(removed)
        api.invalidate_cache()
        delta = get(base, school, "Students", {**params, "changedRows": first, "pageSize": 5}, token).json()
        assert [row["Id"] for row in delta["Students"]] == [changed.mis_id]
        assert delta["Students"][0]["Surname"] == "Changed-Surname"
        assert delta["Students_deleted"] == [{"Id": removed.mis_id}]
        assert delta["__pagination__"][0]["RowCount"] == 1
        # The documented footgun: the same hash with other parameters reports spurious changes.
        school.pupils[0].leaving_date = school.pupils[0].admission_date
        api.invalidate_cache()
        second = delta["__changedRows__"][0]["NextChangedRows"]
        other = get(base, school, "Students", {"changedRows": second}, token).json()
        assert {"Id": school.pupils[0].mis_id} in other["Students_deleted"]
        unknown = get(base, school, "Students", {**params, "changedRows": "0" * 32}, token).json()
        assert unknown["ExceptionMessage"]


def test_an_expired_token_is_refused():
    population = build_population(SEED, 1, 5)
    with xod_server(population) as (_, api, base):
        school = population.schools[0]
        token = idaas(base, school)
        assert get(base, school, "SchoolInfo", None, token).json()["SchoolInfo"][0]["Id"] == estab_of(school)
        api.expire_tokens()
        refused = get(base, school, "SchoolInfo", None, token)
        assert refused.status_code == 401 and refused.json()["ExceptionMessage"]
