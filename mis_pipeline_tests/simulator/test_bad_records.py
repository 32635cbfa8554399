"""Bad records for the quarantine tests: N pupils per school arrive with a defect, alternately a
wrong UPN check letter and no date of birth, the same through Wonde and XoD."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests

from data_contracts import CONTRACTS, split_valid
from mis_pipeline.connectors.wonde.normalise import normalise_wonde_student
from mis_pipeline.connectors.xod.normalise import normalise_xod_student
from mis_pipeline.lib.upn import check_letter, is_valid_upn
from mis_pipeline_tests.simulator.support import SEED, TOKEN, bearer, get, xod_get
from mis_simulator.advance import advance
from mis_simulator.population import (
    MISSING_DATE_OF_BIRTH,
    WRONG_UPN_CHECK_LETTER,
    add_bad_records,
    build_population,
)
from mis_simulator.server import SimulatorServer

# The rule each defect breaks in the pupils contract, as quarantine will name it.
RULE_OF = {
    WRONG_UPN_CHECK_LETTER: "upn: not a valid UPN (13 characters, DfE check letter)",
    MISSING_DATE_OF_BIRTH: "date_of_birth: missing",
}
CONNECTOR_IDENTITY = ("connector", "connector_pupil_id", "upi", "source_updated_at")


def test_each_school_gets_exactly_n_defects_alternating_between_the_two_kinds():
    population = build_population(SEED, 4, 20, bad_records=5)
    for school in population.schools:
        defects = population.bad_records(school)
        assert len(defects) == 5
        in_roll_order = [defects[p.mis_id] for p in school.pupils if p.mis_id in defects]
        assert in_roll_order == [WRONG_UPN_CHECK_LETTER, MISSING_DATE_OF_BIRTH] * 2 + [WRONG_UPN_CHECK_LETTER]
        for pupil in school.pupils:
            if defects.get(pupil.mis_id) == WRONG_UPN_CHECK_LETTER:
                assert not is_valid_upn(pupil.upn) and pupil.upn[0] != check_letter(pupil.upn[1:])
                assert pupil.date_of_birth is not None
            elif defects.get(pupil.mis_id) == MISSING_DATE_OF_BIRTH:
                assert pupil.date_of_birth is None and is_valid_upn(pupil.upn)


def test_the_same_seed_spoils_the_same_pupils_and_leaves_everything_else_as_it_was():
    clean, spoiled = build_population(SEED, 3, 15), build_population(SEED, 3, 15, bad_records=2)
    assert spoiled == build_population(SEED, 3, 15, bad_records=2)
    assert clean == build_population(SEED, 3, 15, bad_records=0)
    for before, after in zip(clean.schools, spoiled.schools, strict=True):
        defects = spoiled.bad_records(after)
        assert clean.bad_records(before) == {}
        for old, new in zip(before.pupils, after.pupils, strict=True):
            if old.mis_id not in defects:
                assert new == old
            else:
                field = "upn" if defects[old.mis_id] == WRONG_UPN_CHECK_LETTER else "date_of_birth"
                assert dataclasses.replace(new, **{field: getattr(old, field)}) == old
    assert spoiled.bad_records(spoiled.schools[0]) != spoiled.bad_records(spoiled.schools[1])


def test_more_defects_than_pupils_spoils_every_pupil_and_a_negative_count_is_refused():
    population = build_population(SEED, 1, 3, bad_records=10)
    assert len(population.bad_records(population.schools[0])) == 3
    with pytest.raises(ValueError):
        add_bad_records(population, -1)


def test_advance_never_repairs_a_bad_record_and_the_list_stays_exact():
    population = build_population(SEED, 6, 6, bad_records=5)  # one sound pupil per school
    before = {school.urn: population.bad_records(school) for school in population.schools}
    log = advance(population, at=datetime(2026, 11, 15, 9, tzinfo=UTC))
    for school in population.schools:
        changes = log.schools[school.urn]
        assert len(changes.upn_replaced) == 1 and not set(changes.upn_replaced) & set(before[school.urn])
        still = {
            mis_id: defect for mis_id, defect in before[school.urn].items() if mis_id not in changes.deleted
        }
        assert population.bad_records(school) == still


@pytest.fixture(scope="module")
def spoiled_server():
    population = build_population(SEED, 3, 20, bad_records=4)
    with SimulatorServer(population, token=TOKEN, serve_all_schools_on_both=True) as server:
        yield server


def canonical_by_connector(server, school) -> dict[str, list[dict]]:
    wonde = get(server, f"schools/{school.id}/students", {"include": "education_details", "per_page": "200"})
    xod = xod_get(server.xod_url, school, "Students")
    rows = {
        "wonde": [normalise_wonde_student(raw, school.urn) for raw in wonde.json()["data"]],
        "xod": [normalise_xod_student(raw, school.urn) for raw in xod.json()["Students"]],
    }
    return {name: sorted(found, key=lambda row: row["mis_id"]) for name, found in rows.items()}


def test_wonde_and_xod_serve_the_defects_identically_and_the_contract_rejects_exactly_them(spoiled_server):
    population = spoiled_server.population
    school = population.schools[0]
    rows = canonical_by_connector(spoiled_server, school)

    def values(found):
        return [{k: v for k, v in row.items() if k not in CONNECTOR_IDENTITY} for row in found]

    assert values(rows["wonde"]) == values(rows["xod"])
    for found in rows.values():
        good, rejected = split_valid(
            CONTRACTS["pupils"], [{**row, "pupil_key": f"key-{row['mis_id']}"} for row in found]
        )
        assert len(good) == 16
        assert {r.record["mis_id"]: r.rule for r in rejected} == {
            mis_id: RULE_OF[defect] for mis_id, defect in population.bad_records(school).items()
        }


def test_the_bad_records_flag_reaches_the_served_population(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mis_simulator",
            "--port",
            "0",
            "--schools",
            "2",
            "--pupils-per-school",
            "6",
            "--bad-records",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = process.stdout.readline().strip().partition("=")[2]
        assert url.startswith("http://127.0.0.1:")
        school = requests.get(f"{url}/schools", headers=bearer("sim-token"), timeout=10).json()["data"][0]
        students = requests.get(
            f"{url}/schools/{school['id']}/students",
            params={"include": "education_details"},
            headers=bearer("sim-token"),
            timeout=10,
        ).json()["data"]
        bad_upns = [s for s in students if not is_valid_upn(s["education_details"]["data"]["upn"])]
        no_birth = [s for s in students if s["date_of_birth"] is None]
        assert (len(students), len(bad_upns), len(no_birth)) == (6, 2, 1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
