"""After `advance`, the other data items change the way a delta must see them, over real HTTP:
a joiner's history arrives stamped with the advance, a leaver's marks move to Wonde's
`attendance-leavers/session` (XoD: `includeLeavers`) and their results stay, and every group
whose members changed, an emptied one included, is stamped with the change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mis_pipeline_tests.simulator.support import SEED, TOKEN, get, xod_get
from mis_pipeline_tests.simulator.test_wonde_datasets_api import all_rows
from mis_simulator.datasets import ATTENDANCE_DAYS, ATTENDANCE_START, datasets_for, school_days
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer

AT = datetime(2026, 11, 15, 9, 15, 42, tzinfo=UTC)
SINCE = "2026-11-15 09:15:41"  # a second before AT
AT_TEXT = "2026-11-15 09:15:42.000000"


@pytest.fixture(scope="module")
def advanced():
    """A secondary school with every item granted, before and after one step at AT."""
    population = build_population(SEED, 3, 15)  # small sets: the step empties some teaching groups
    school = population.schools[1]
    school.permissions = dict.fromkeys(school.permissions, True)
    with SimulatorServer(population, token=TOKEN, serve_all_schools_on_both=True) as server:
        before = datasets_for(population, school)
        changes = server.advance(at=AT).schools[school.urn]
        yield server, school, changes, before, datasets_for(population, school)


def members(data, pupils) -> dict[str, frozenset[str]]:
    mis_id = {pupil.id: pupil.mis_id for pupil in pupils}
    return {group.id: frozenset(mis_id[m] for m in group.member_ids) for group in data.groups}


def test_a_joiners_marks_results_and_details_arrive_stamped_with_the_advance(advanced):
    server, school, changes, _, after = advanced
    joiner = next(p for p in school.pupils if p.mis_id == changes.new[0])
    path = f"schools/{school.id}"
    marks = all_rows(server, f"{path}/attendance/session", {"updated_after": SINCE})
    assert sorted(m["id"] for m in marks) == sorted(m.id for m in after.attendance if m.mis_id in changes.new)
    assert len(marks) == 2 * ATTENDANCE_DAYS * len(changes.new)
    assert {m["updated_at"]["date"] for m in marks} == {AT_TEXT}
    results = all_rows(server, f"{path}/assessment/results", {"updated_after": SINCE})
    assert sorted(r["id"] for r in results) == sorted(r.id for r in after.results if r.mis_id in changes.new)
    student = next(
        s
        for s in all_rows(server, f"{path}/students", {"include": "extended_details"})
        if s["id"] == joiner.id
    )
    assert student["extended_details"]["data"]["updated_at"]["date"] == AT_TEXT


def test_generated_pupils_keep_the_stamps_their_records_always_had(advanced):
    _, school, changes, before, after = advanced
    stayed = {p.mis_id for p in school.pupils} - set(changes.new)
    assert [m for m in after.attendance if m.mis_id in stayed] == [
        m for m in before.attendance if m.mis_id in stayed
    ]
    assert [r for r in after.results if r.mis_id in stayed] == [
        r for r in before.results if r.mis_id in stayed
    ]


def test_a_leavers_marks_move_to_attendance_leavers_and_their_results_stay(advanced):
    server, school, changes, before, _ = advanced
    (leaver,) = changes.left
    path = f"schools/{school.id}"
    theirs = sorted(m.id for m in before.attendance if m.mis_id == leaver)
    assert len(theirs) == 2 * ATTENDANCE_DAYS
    assert sorted(m["id"] for m in all_rows(server, f"{path}/attendance-leavers/session")) == theirs
    assert not {m["id"] for m in all_rows(server, f"{path}/attendance/session")} & set(theirs)
    results = [
        r["id"]
        for r in all_rows(server, f"{path}/assessment/results")
        if r["id"] in {r.id for r in before.results if r.mis_id == leaver}
    ]
    assert len(results) == 6
    assert all_rows(server, f"{path}/attendance-leavers/session", {"updated_after": SINCE}) == []
    assert (
        get(server, f"{path}/attendance-leavers/session", {"date_to": "2026-09-07"}).json()["data"]
        and get(server, f"{path}/attendance-leavers/session", {"date_from": "2026-09-19"}).json()["data"]
        == []
    )


def test_a_group_delta_holds_exactly_the_groups_whose_members_changed_an_emptied_one_too(advanced):
    server, school, changes, before, after = advanced
    old = members(before, school.pupils + school.leavers + [d.pupil for d in server.population.deletions])
    new = members(after, school.pupils)
    changed = {gid for gid in old.keys() | new.keys() if old.get(gid) != new.get(gid)}
    delta = all_rows(server, f"schools/{school.id}/groups", {"include": "students", "updated_after": SINCE})
    assert sorted(g["id"] for g in delta) == sorted(changed)
    emptied = [g for g in delta if g["students"]["data"] == []]
    assert emptied and {g["id"] for g in emptied} == {gid for gid in changed if not new[gid]}
    assert {g["updated_at"]["date"] for g in delta} == {AT_TEXT}


def test_xod_serves_a_leavers_marks_only_with_include_leavers_and_their_results_always(advanced):
    server, school, changes, _, _ = advanced
    (leaver,) = changes.left
    window = {"DateFrom": "2026-09-01", "DateTo": "2027-08-31", "SessionType": "AM"}
    plain = xod_get(server.xod_url, school, "AttendanceForDateRange", window).json()["AttendMarks"]
    with_leavers = xod_get(
        server.xod_url, school, "AttendanceForDateRange", {**window, "options": "includeLeavers"}
    ).json()["AttendMarks"]
    assert [r for r in plain if r["StudentId"] == leaver] == []
    assert sorted(r["Id"] for r in with_leavers if r["StudentId"] == leaver) == [
        f"{leaver}.{day.isoformat()}.AM" for day in school_days(ATTENDANCE_START, ATTENDANCE_DAYS)
    ]
    results = xod_get(server.xod_url, school, "assessmentresults", {"Students": leaver}).json()["AsmResults"]
    assert len(results) == 6
