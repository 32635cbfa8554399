"""One simulator serving Wonde (/v1.0/) and XoD (/api/) over real loopback HTTP: who serves which
school, the XoD secrets file, Wonde deletions and leavers, and XoD deltas after `advance`."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mis_pipeline_tests.simulator.support import (
    SEED,
    TOKEN,
    get,
    idaas,
    wonde_schools,
    xod_get,
    xod_schools,
    xod_server,
    xod_token,
)
from mis_simulator.advance import advance
from mis_simulator.datasets import build_school_datasets
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import (
    BAD_SECRET_MESSAGE,
    PAUSED_MESSAGE,
    RELYING_PARTY,
    estab_of,
    school_secret,
    write_xod_secrets,
)

AT1 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
AT2 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
STUDENTS = {"options": "includeLeavers"}


def since(moment: datetime) -> str:
    return (moment - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")


def all_rows(server, path, params=None) -> list[dict]:
    body = get(server, path, {**(params or {}), "per_page": "200"}).json()
    rows = list(body["data"])
    while body["meta"].get("pagination", {}).get("next"):
        body = requests.get(
            body["meta"]["pagination"]["next"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ).json()
        rows.extend(body["data"])
    return rows


@pytest.fixture()
def own():
    """A fresh 12-school population (indexes 2, 5, 8, 11 on XoD) and its server."""
    population = build_population(SEED, 12, 20)
    with SimulatorServer(population, token=TOKEN) as server:
        yield server


# -- one server, two APIs ---------------------------------------------------------------------
def test_one_server_serves_wonde_under_v1_and_xod_under_api(own):
    population = own.population
    assert own.xod_url == f"http://{own.host}:{own.port}/api" and own.xod.relying_party == RELYING_PARTY
    wonde_school, xod_school = wonde_schools(population)[0], xod_schools(population)[0]
    assert get(own, f"schools/{wonde_school.id}/students").status_code == 200
    token = xod_token(own.xod_url, xod_school).json()  # a POST body read by the server
    assert token["ExceptionMessage"] is None and token["token"]
    rows = xod_get(own.xod_url, xod_school, "Students").json()["Students"]
    assert [row["Id"] for row in rows] == [p.mis_id for p in xod_school.pupils]
    assert all(row["DateofBirth"] for row in rows)  # with the Student scope alone, in the simulator
    logged = {record.path.split("/")[1] for record in own.request_log}
    assert logged == {"v1.0", "api"}


def test_wonde_lists_and_serves_only_its_own_schools(own):
    population = own.population

    def ids(path):
        return [row["id"] for row in get(own, path).json()["data"]]

    assert ids("schools") == [s.id for s in wonde_schools(population)]
    assert all(s.connector == "wonde" for s in population.schools if s.id in ids("schools"))
    assert ids("schools/pending") == [s.id for s in wonde_schools(population, "pending")]
    assert ids("schools/revoked") == [s.id for s in wonde_schools(population, "revoked")]
    xod_school = xod_schools(population)[0]
    for path in ("", "/students", "/students-leaver", "/deletions", "/groups"):
        assert get(own, f"schools/{xod_school.id}{path}").status_code == 403, path
    assert get(own, f"meta/schools/{xod_school.id}/permissions").status_code == 403


def test_xod_knows_only_its_own_schools(own):
    wonde_school = wonde_schools(own.population)[0]
    refused = xod_token(own.xod_url, wonde_school).json()
    assert refused["token"] is None and refused["ExceptionMessage"] == BAD_SECRET_MESSAGE


def test_serving_all_schools_on_both_lets_the_two_connectors_be_compared_on_one_school():
    population = build_population(SEED, 6, 12)
    with xod_server(population, serve_all_schools_on_both=True) as (server, _, base):
        assert [row["id"] for row in get(server, "schools").json()["data"]] == [
            s.id for s in population.approved_schools()
        ]
        for school in (population.schools[0], population.schools[2]):  # one of each connector
            wonde = {
                row["mis_id"]: row["education_details"]["data"]["upn"]
                for row in get(
                    server, f"schools/{school.id}/students", {"include": "education_details"}
                ).json()["data"]
            }
            xod = {row["Id"]: row["UPN"] for row in xod_get(base, school, "Students").json()["Students"]}
            assert wonde == xod == {p.mis_id: p.upn for p in school.pupils}


# -- the XoD secrets file ---------------------------------------------------------------------
def test_secrets_file_holds_every_xod_school_that_issued_a_secret_and_revoked_ones_are_refused(tmp_path):
    population = build_population(SEED, 33, 2)  # 20 is pending on XoD, 32 revoked on XoD
    path = write_xod_secrets(population, tmp_path / "nested" / "secrets.json")
    secrets = json.loads(path.read_text(encoding="utf-8"))
    assert secrets == {estab_of(s): school_secret(s) for s in population.schools_on("xod")}
    assert {s.approval for s in population.schools_on("xod")} == {"approved", "pending", "revoked"}
    assert not set(secrets) & {estab_of(s) for s in population.schools_on("wonde")}
    with SimulatorServer(population, token=TOKEN) as server:

        def answer(index):
            school = population.schools[index]
            assert school.connector == "xod"
            body = {
                "estab": estab_of(school),
                "relyingParty": RELYING_PARTY,
                "password": secrets[estab_of(school)],
            }
            return requests.post(f"{server.xod_url}/oauth/GetToken", json=body, timeout=10).json()

        assert answer(2)["ExceptionMessage"] is None
        assert answer(20)["ExceptionMessage"] == PAUSED_MESSAGE
        assert answer(32)["ExceptionMessage"] == BAD_SECRET_MESSAGE


# -- Wonde deletions and leavers --------------------------------------------------------------
def test_deletions_and_leavers_after_advance(own):
    population = own.population
    school = wonde_schools(population)[0]
    assert all_rows(own, f"schools/{school.id}/deletions") == []
    assert all_rows(own, f"schools/{school.id}/students-leaver") == []
    first = own.advance(at=AT1).schools[school.urn]
    (deleted,) = first.deleted
    (left,) = first.left
    rows = all_rows(own, f"schools/{school.id}/deletions")
    (deletion,) = population.deletions_for(school)
    assert rows == [
        {
            "type": "student",
            "id": deletion.id,
            "mis_id": deleted,
            "deleted_at": {"date": "2026-11-16 09:00:00.000000", "timezone_type": 3, "timezone": "UTC"},
            "restored_at": None,
        }
    ]
    leavers = all_rows(own, f"schools/{school.id}/students-leaver", {"include": "education_details"})
    assert [row["mis_id"] for row in leavers] == [left]
    leaving = leavers[0]["education_details"]["data"]["leaving_date"]
    assert leaving["date"] == f"{school.leavers[0].leaving_date.isoformat()} 00:00:00.000000"
    assert left not in {row["mis_id"] for row in all_rows(own, f"schools/{school.id}/students")}

    second = own.advance(at=AT2).schools[school.urn]
    assert second.restored == [deleted]
    rows = all_rows(own, f"schools/{school.id}/deletions")
    assert [row["mis_id"] for row in rows] == [deleted] + second.deleted
    assert rows[0]["restored_at"]["date"] == "2026-11-17 09:00:00.000000"
    # updated_after sees the restore of the older deletion and the newer deletion
    recent = all_rows(own, f"schools/{school.id}/deletions", {"updated_after": since(AT2)})
    assert [row["mis_id"] for row in recent] == [deleted] + second.deleted
    assert all_rows(own, f"schools/{school.id}/deletions", {"updated_after": "2026-11-18"}) == []
    assert all_rows(own, f"schools/{school.id}/deletions", {"type": "contact"}) == []
    restored = next(r for r in all_rows(own, f"schools/{school.id}/students") if r["mis_id"] == deleted)
    assert restored["id"] != rows[0]["id"] and restored["upi"] == deletion.upi
    new_leavers = all_rows(own, f"schools/{school.id}/students-leaver", {"updated_after": since(AT2)})
    assert [row["mis_id"] for row in new_leavers] == second.left
    paged = get(own, f"schools/{school.id}/deletions", {"per_page": "1"}).json()
    assert len(paged["data"]) == 1 and paged["meta"]["pagination"]["more"] is True
    pending = wonde_schools(population, "pending")[0]
    assert get(own, f"schools/{pending.id}/deletions").status_code == 403
    assert get(own, f"schools/{pending.id}/students-leaver").status_code == 403


def test_extended_details_of_untouched_pupils_survive_advance(own):
    school = wonde_schools(own.population)[0]
    params = {"include": "extended_details"}
    before = {
        row["id"]: row["extended_details"] for row in all_rows(own, f"schools/{school.id}/students", params)
    }
    own.advance(at=AT1)
    after = {
        row["id"]: row["extended_details"] for row in all_rows(own, f"schools/{school.id}/students", params)
    }
    kept = set(before) & set(after)
    assert len(kept) >= len(before) - 2 and all(before[i] == after[i] for i in kept)


# -- XoD deltas after advance -------------------------------------------------------------------
def test_xod_student_delta_after_advance_is_exactly_the_changes(own):
    population = own.population
    school = xod_schools(population)[0]
    base = own.xod_url
    token = idaas(base, school)
    full = xod_get(base, school, "Students", {**STUDENTS, "changedRows": "*"}, token).json()
    assert len(full["Students"]) == 20 and full["Students_deleted"] == []
    cursor = full["__changedRows__"][0]["NextChangedRows"]
    for at in (AT1, AT2):
        changes = own.advance(at=at).schools[school.urn]
        delta = xod_get(
            base, school, "Students", {**STUDENTS, "changedRows": cursor, "pageSize": 100}, token
        ).json()
        rows = {row["Id"]: row for row in delta["Students"]}
        assert set(rows) == set(changes.new) | set(changes.changed) | set(changes.left) | set(
            changes.restored
        )
        assert delta["Students_deleted"] == [{"Id": mis_id} for mis_id in changes.deleted]
        for mis_id in changes.left:  # a leaver is a changed row, never a deletion
            leaver = next(p for p in school.leavers if p.mis_id == mis_id)
            assert rows[mis_id]["StudentStatus"] == "Leaver"
            assert rows[mis_id]["LeavingDate"] == leaver.leaving_date.isoformat()
        for mis_id in changes.new + changes.restored:
            assert rows[mis_id]["StudentStatus"] == "OnRoll" and rows[mis_id]["LeavingDate"] is None
        cursor = delta["__changedRows__"][0]["NextChangedRows"]
    assert changes.restored, "the second step restores a pupil"
    # Leavers only with includeLeavers (or studentStatus=Leaver)
    on_roll = {row["Id"] for row in xod_get(base, school, "Students", None, token).json()["Students"]}
    assert on_roll == {p.mis_id for p in school.pupils}
    leavers = xod_get(base, school, "Students", {"studentStatus": "Leaver"}, token).json()["Students"]
    assert {row["Id"] for row in leavers} == {p.mis_id for p in school.leavers}


def test_xod_attendance_delta_after_advance_touches_only_the_pupils_that_came_or_went(own):
    school = xod_schools(own.population)[0]
    base = own.xod_url
    token = idaas(base, school)
    params = {"DateFrom": "2026-09-07", "DateTo": "2026-09-18", "SessionType": "AM"}
    full = xod_get(base, school, "AttendanceForDateRange", {**params, "changedRows": "*"}, token).json()
    cursor = full["__changedRows__"][0]["NextChangedRows"]
    changes = own.advance(at=AT1).schools[school.urn]
    delta = xod_get(base, school, "AttendanceForDateRange", {**params, "changedRows": cursor}, token).json()
    assert {row["StudentId"] for row in delta["AttendMarks"]} == set(changes.new)
    gone = set(changes.left) | set(changes.deleted)
    assert {row["Id"].split(".")[0] for row in delta["AttendMarks_deleted"]} == gone
    assert len(delta["AttendMarks_deleted"]) == 10 * len(gone)


# -- datasets are per pupil ------------------------------------------------------------------
def test_removing_or_adding_a_pupil_changes_no_other_pupils_datasets():
    population = build_population(SEED, 2, 30)
    school = population.schools[1]
    before = build_school_datasets(SEED, school)
    removed = school.pupils.pop(4)
    extra = dataclasses.replace(school.pupils[0], id="A9999999999", upi="f" * 32, mis_id="99999")
    school.pupils.append(extra)
    after = build_school_datasets(SEED, school)

    def by_pupil(data, pupil_id):
        return (
            data.details[pupil_id],
            [(m.id, m.code, m.date, m.session) for m in data.attendance if m.pupil_id == pupil_id],
            [(r.id, r.aspect_id, r.result_set_id, r.result) for r in data.results if r.pupil_id == pupil_id],
            {kind: (g.id, g.code) for kind, g in data.memberships[pupil_id].items()},
        )

    for pupil in school.pupils[:-1]:
        assert by_pupil(before, pupil.id) == by_pupil(after, pupil.id)
    assert removed.id not in after.details and extra.id in after.details
    assert [a.id for a in before.aspects] == [a.id for a in after.aspects]
    # the restored pupil (same upi and mis_id, new id) gets back the same values and ids
    school.pupils.append(dataclasses.replace(removed, id="A9999999998"))
    again = build_school_datasets(SEED, school)
    old, new = by_pupil(before, removed.id), by_pupil(again, "A9999999998")
    assert old[0] == new[0] and old[1] == new[1] and old[2] == new[2]


def test_advance_without_a_server_and_rebuilt_datasets_keep_group_ids():
    population = build_population(SEED, 3, 25)
    school = population.schools[1]
    before = {(g.type, g.code): g.id for g in build_school_datasets(SEED, school).groups}
    advance(population, at=AT1)
    after = {(g.type, g.code): g.id for g in build_school_datasets(SEED, school).groups}
    assert all(before[key] == after[key] for key in set(before) & set(after))
    assert len(set(after.values())) == len(after)
