from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mis_pipeline.lib.upn import is_temporary_upn, is_valid_upn
from mis_pipeline_tests.simulator.support import SEED, TOKEN, bearer, small_population, wonde_schools
from mis_simulator.advance import KINDS, advance
from mis_simulator.population import (
    POPULATION_CLOCK,
    birth_window,
    build_population,
    connector_for,
    xod_estab,
)
from mis_simulator.server import SimulatorServer

AT = datetime(2026, 11, 15, 9, 15, 42, tzinfo=UTC)  # after the clock, before the real now
PUPIL_FIELDS = tuple(f.name for f in dataclasses.fields(build_population(1, 1, 1).schools[0].pupils[0]))
SCHOOL_FIELDS = (
    "id",
    "urn",
    "la_code",
    "establishment_number",
    "name",
    "phase_of_education",
    "statutory_low_age",
    "statutory_high_age",
    "mis",
    "approval",
    "permissions",
    "nc_years",
    "trust_uid",
    "trust_name",
    "diocese_code",
    "diocese_name",
)


def snapshot(population):
    """Per school URN: on-roll records by mis_id (as field tuples) and leaver mis_ids."""
    return {
        school.urn: (
            {p.mis_id: dataclasses.astuple(p) for p in school.pupils},
            {p.mis_id for p in school.leavers},
        )
        for school in population.schools
    }


def every_record(population):
    for school in population.schools:
        yield from school.pupils
        yield from school.leavers
    for deletion in population.deletions:
        yield deletion.pupil


# -- connectors and the unchanged seeded population ------------------------------------------
def test_connector_is_fixed_by_position_and_every_seeded_value_is_unchanged():
    population = small_population()
    assert [s.connector for s in population.schools] == [connector_for(i) for i in range(12)]
    assert [s.connector for s in population.schools][:6] == ["wonde", "wonde", "xod", "wonde", "wonde", "xod"]
    assert population.schools_on("xod") == [population.schools[i] for i in (2, 5, 8, 11)]
    assert len(population.schools_on("wonde")) == 8
    # Recorded from a build made before `connector`, `leavers`, `deletions` and `clock` existed.
    digest = hashlib.sha256()
    for school in population.schools:
        digest.update(repr(tuple(getattr(school, name) for name in SCHOOL_FIELDS)).encode())
        for pupil in school.pupils:
            digest.update(repr(dataclasses.astuple(pupil)).encode())
    assert digest.hexdigest() == "736dbf77ea128dcbad51507cd04d94ff48a51dedf09950931b905c72b7f78ce0"
    school, pupil = population.schools[5], population.schools[5].pupils[-1]
    assert (school.id, school.urn, xod_estab(school)) == ("A1326225919", "100212", "8732005")
    assert (pupil.id, pupil.upi, pupil.upn, pupil.mis_id) == (
        "A1326763727",
        "5b32fd97d3489d54a5b5c8562f3e3319",
        "F873200521003",
        "64083",
    )
    assert all(s.leavers == [] for s in population.schools) and population.deletions == []


def test_the_clock_starts_after_every_generated_timestamp():
    population = small_population()
    assert population.clock == POPULATION_CLOCK
    assert max(p.updated_at for p in every_record(population)) < population.clock


# -- advance ---------------------------------------------------------------------------------
def test_advance_is_deterministic_for_a_seed_and_time():
    first, second = small_population(), small_population()
    logs = [advance(first, at=AT), advance(second, at=AT)]
    assert logs[0] == logs[1] and first == second
    assert advance(first, at=AT + timedelta(days=1)) == advance(second, at=AT + timedelta(days=1))
    assert first == second
    other = small_population()
    assert advance(other, at=AT, seed_step=2).to_json()["schools"] != logs[0].to_json()["schools"]


def test_advance_moves_the_clock_and_refuses_to_go_back():
    population = small_population()
    log = advance(population, at=AT)
    assert population.clock == AT and population.steps == 1 and log.step == 1
    with pytest.raises(ValueError):
        advance(population, at=AT)
    with pytest.raises(ValueError):
        advance(population, at=datetime(2026, 11, 16, 9))  # naive
    before = datetime.now(UTC)
    log = advance(population)  # defaults to the real time
    assert before <= log.at <= datetime.now(UTC) and population.clock == log.at


def test_change_log_matches_the_population_diff_exactly():
    population = small_population()
    approved = {school.urn for school in population.approved_schools()}
    for step, at in enumerate((AT, AT + timedelta(hours=5), AT + timedelta(days=2)), start=1):
        before = snapshot(population)
        deletions_before = len(population.deletions)
        log = advance(population, at=at)
        after = snapshot(population)
        assert set(log.schools) == approved and log.step == step
        for school in population.schools:
            old_roll, old_leavers = before[school.urn]
            new_roll, new_leavers = after[school.urn]
            if school.urn not in approved:
                assert (old_roll, old_leavers) == (new_roll, new_leavers)
                continue
            changes = log.schools[school.urn]
            deleted_now = [d for d in population.deletions[deletions_before:] if d.school_id == school.id]
            restored_now = [d for d in population.deletions_for(school) if d.restored_at == at]
            assert sorted(d.mis_id for d in deleted_now) == sorted(changes.deleted)
            assert all(
                d.deleted_at == at and d.restored_at is None and d.type == "student" for d in deleted_now
            )
            assert sorted(d.mis_id for d in restored_now) == sorted(changes.restored)
            assert sorted(new_leavers - old_leavers) == sorted(changes.left)
            appeared = set(new_roll) - set(old_roll)
            assert appeared == set(changes.new) | set(changes.restored)
            assert set(old_roll) - set(new_roll) == set(changes.left) | set(changes.deleted)
            changed = {}
            for mis_id in set(old_roll) & set(new_roll):
                diff = [
                    name
                    for name, a, b in zip(PUPIL_FIELDS, old_roll[mis_id], new_roll[mis_id], strict=True)
                    if a != b and name != "updated_at"
                ]
                if diff:
                    changed[mis_id] = sorted(diff)
            assert changed == changes.changed
            assert set(changes.upn_replaced) <= set(changes.changed)
            # Counts per kind: one of each, 1-2 new, a restore from the second step on.
            assert (len(changes.left), len(changes.deleted), len(changes.upn_replaced)) == (1, 1, 1)
            assert sorted(changes.changed.values()) == [["former_upn", "upn"], ["surname"]]
            assert 1 <= len(changes.new) <= 2
            assert len(changes.restored) == (0 if step == 1 else 1)
            # Exactly the records touched now carry updated_at == at.
            stamped = {p.mis_id for p in school.pupils if p.updated_at == at}
            assert stamped == changes.delta_mis_ids()
            assert all(p.updated_at == at for p in school.leavers if p.mis_id in changes.left)
            for kind in KINDS:  # mis_ids never repeat within a kind
                values = list(getattr(changes, kind))
                assert len(values) == len(set(values))


def test_new_pupils_fit_the_school_and_every_upn_stays_valid_and_unique():
    population = small_population()
    for n in range(3):
        log = advance(population, at=AT + timedelta(days=n))
        for school in population.approved_schools():
            new = [p for p in school.pupils if p.mis_id in log.schools[school.urn].new]
            assert len(new) == len(log.schools[school.urn].new) >= 1
            for pupil in new:
                assert pupil.created_at == pupil.updated_at == log.at
                assert pupil.admission_date == log.at.date()
                assert pupil.current_nc_year in school.nc_years
                start, end = birth_window(pupil.current_nc_year)
                assert start <= pupil.date_of_birth <= end
                assert pupil.leaving_date is None and pupil.former_upn is None
                assert pupil.id[0] == "A" and len(pupil.id) == 11 and len(pupil.upi) == 32
    # One record per person: a restored pupil and its deletion's copy share upi and UPN.
    records = list({p.upi: p for p in every_record(population)}.values())
    upns = [p.upn for p in records] + [p.former_upn for p in records if p.former_upn]
    assert all(is_valid_upn(upn) for upn in upns)
    assert len(set(upns)) == len(upns)
    for key in ("id", "upi", "upn"):
        live = [getattr(p, key) for s in population.schools for p in s.pupils + s.leavers]
        assert len(set(live)) == len(live)
    ids = [s.id for s in population.schools] + [p.id for p in every_record(population)]
    assert len(set(ids)) == len(ids)  # restored pupils have ids of their own


def test_a_restored_pupil_keeps_upi_and_mis_id_under_a_new_id():
    population = small_population()
    first = advance(population, at=AT)
    second = advance(population, at=AT + timedelta(days=1))
    school = population.approved_schools()[0]
    (mis_id,) = second.schools[school.urn].restored
    assert mis_id in first.schools[school.urn].deleted
    deletion = next(d for d in population.deletions_for(school) if d.mis_id == mis_id)
    restored = next(p for p in school.pupils if p.mis_id == mis_id)
    assert deletion.restored_at == second.at and deletion.deleted_at == first.at
    assert deletion.updated_at == second.at
    assert restored.upi == deletion.upi == deletion.pupil.upi
    assert restored.id != deletion.id
    assert restored.upn == deletion.pupil.upn and restored.updated_at == second.at
    assert sum(p.upi == restored.upi for p in every_record(population)) == 2  # itself + the deletion's copy


def test_upn_replacement_keeps_the_temporary_upn_as_former_upn():
    population = small_population()
    for n in range(3):
        temporaries = {
            p.mis_id: p.upn for s in population.schools for p in s.pupils if is_temporary_upn(p.upn)
        }
        log = advance(population, at=AT + timedelta(days=n))
        for school in population.approved_schools():
            changes = log.schools[school.urn]
            (mis_id,) = changes.upn_replaced
            pupil = next(p for p in school.pupils if p.mis_id == mis_id)
            assert is_temporary_upn(pupil.former_upn) and not is_temporary_upn(pupil.upn)
            assert is_valid_upn(pupil.former_upn) and is_valid_upn(pupil.upn)
            if n > 0:  # from the second step on a temporary UPN is always on roll to replace
                assert temporaries[mis_id] == pupil.former_upn
            # every step brings one new arrival with a temporary UPN
            assert sum(is_temporary_upn(p.upn) for p in school.pupils if p.mis_id in changes.new) == 1


def test_a_leaver_moves_to_leavers_with_a_leaving_date():
    population = small_population()
    log = advance(population, at=AT)
    for school in population.approved_schools():
        (mis_id,) = log.schools[school.urn].left
        assert all(p.mis_id != mis_id for p in school.pupils)
        (leaver,) = school.leavers
        assert leaver.mis_id == mis_id and leaver.updated_at == AT
        assert AT.date() - timedelta(days=3) <= leaver.leaving_date <= AT.date()


def test_max_schools_limits_a_step_to_the_first_approved_schools():
    population = small_population()
    log = advance(population, at=AT, max_schools=2)
    assert list(log.schools) == [s.urn for s in population.approved_schools()[:2]]
    untouched = population.approved_schools()[2]
    assert all(p.updated_at < POPULATION_CLOCK for p in untouched.pupils)


# -- over HTTP -------------------------------------------------------------------------------
@pytest.fixture
def own_server():
    with SimulatorServer(build_population(SEED, 6, 23), token=TOKEN) as running:
        yield running


def advance_url(server) -> str:
    return f"{server.scheme}://{server.host}:{server.port}/_sim/advance"


def students(server, school, **params):
    response = requests.get(
        f"{server.wonde_url}/schools/{school.id}/students",
        headers=bearer(),
        timeout=10,
        params={"include": "education_details", "per_page": 200, **params},
    )
    assert response.status_code == 200
    return response.json()["data"]


def test_advance_endpoint_needs_the_token_and_post(own_server):
    assert requests.post(advance_url(own_server), timeout=10).status_code == 401
    assert requests.post(advance_url(own_server), headers=bearer("wrong"), timeout=10).status_code == 401
    assert requests.get(advance_url(own_server), headers=bearer(), timeout=10).status_code == 405
    assert (
        requests.post(
            advance_url(own_server), params={"at": "2026-11-16T09:00:00"}, headers=bearer(), timeout=10
        ).status_code
        == 422
    )  # naive
    assert (
        requests.post(
            advance_url(own_server), params={"at": "2020-01-01T00:00:00Z"}, headers=bearer(), timeout=10
        ).status_code
        == 422
    )  # before the clock
    assert own_server.population.steps == 0


def test_advance_endpoint_returns_the_log_and_the_next_delta_is_exactly_the_changes(own_server):
    population = own_server.population
    school = population.approved_schools()[0]
    full_before = students(own_server, school)  # warms the page and fragment caches
    response = requests.post(advance_url(own_server), headers=bearer(), timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"at", "step", "schools"} and body["step"] == 1
    assert set(body["schools"]) == {s.urn for s in population.approved_schools()}
    at = datetime.fromisoformat(body["at"])
    assert population.clock == at and abs(datetime.now(UTC) - at) < timedelta(minutes=1)
    for changes in body["schools"].values():
        assert set(changes) == {"new", "changed", "left", "deleted", "restored", "upn_replaced"}
        assert all(isinstance(fields, list) for fields in changes["changed"].values())
    for approved in wonde_schools(population):
        changes = body["schools"][approved.urn]
        since = (at - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
        delta = students(own_server, approved, updated_after=since)
        expected = (
            set(changes["new"])
            | set(changes["changed"])
            | set(changes["restored"])
            | set(changes["upn_replaced"])
        )
        assert {row["mis_id"] for row in delta} == expected
        by_mis_id = {row["mis_id"]: row for row in delta}
        for mis_id in changes["upn_replaced"]:
            details = by_mis_id[mis_id]["education_details"]["data"]
            assert is_temporary_upn(details["former_upn"]) and not is_temporary_upn(details["upn"])
    # the full list reflects the change too (caches were dropped)
    full_after = {row["mis_id"] for row in students(own_server, school)}
    changes = body["schools"][school.urn]
    assert full_after == (
        {row["mis_id"] for row in full_before} - set(changes["left"]) - set(changes["deleted"])
        | set(changes["new"])
    )


def test_second_advance_over_http_restores_with_a_new_id(own_server):
    population = own_server.population
    first = own_server.advance(at=AT)  # in-process
    school = population.approved_schools()[1]
    (deleted,) = first.schools[school.urn].deleted
    old = next(d for d in population.deletions_for(school) if d.mis_id == deleted)
    # An unencoded "+00:00" (a space after decoding) is accepted too.
    response = requests.post(
        advance_url(own_server) + "?at=2026-11-16T10:00:00+00:00", headers=bearer(), timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert body["step"] == 2 and body["at"] == "2026-11-16T10:00:00+00:00"
    assert body["schools"][school.urn]["restored"] == [deleted]
    (row,) = [
        r for r in students(own_server, school, updated_after="2026-11-16 09:59:59") if r["mis_id"] == deleted
    ]
    assert row["upi"] == old.upi and row["id"] != old.id
