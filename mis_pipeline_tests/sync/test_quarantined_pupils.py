"""A pupil whose core record is in quarantine: their other items wait in quarantine with it (full
read and delta, Wonde and XoD), their groups land for everyone else, and when the core record
arrives fixed every item of theirs lands. Below Dagster, against a simulator of the test's own."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mis_pipeline.cli.status import school_status
from mis_pipeline.registry.store import SchoolEntry, register_approved
from mis_pipeline.sync.held_back import HELD_BACK
from mis_pipeline.sync.runner import sync_school
from mis_pipeline.warehouse.reader import read_quarantine
from mis_pipeline.warehouse.schema import DATASET_TABLES, pupils, quarantine
from mis_pipeline_tests.sync.quarantine_support import served_items
from mis_pipeline_tests.sync.test_sync_connectors import TOKEN, registered, sources_for
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer


@pytest.fixture(scope="module")
def population():
    return build_population(11, 6, 12)


def full_grant_school(population):
    return next(s for s in population.approved_schools() if all(s.permissions.values()))


def held_rows(engine, urn: str, pupil_key: str | None = None) -> Counter:
    counts = Counter()
    with engine.connect() as conn:
        for name, table in {"pupils": pupils, **DATASET_TABLES}.items():
            query = select(func.count()).select_from(table).where(table.c.school_urn == urn)
            if pupil_key is not None:
                query = query.where(table.c.pupil_key == pupil_key)
            counts[name] = conn.execute(query).scalar_one()
    return +counts


def quarantined(engine, urn: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(quarantine).where(quarantine.c.school_urn == urn)
        ).scalar_one()


def sync(engine, vault, sources, school, connector):
    outcome = sync_school(engine, vault, sources, registered(school, connector), run_id=None)
    assert outcome.status == "synced", outcome.reason
    return outcome


@pytest.mark.parametrize("connector", ["wonde", "xod"])
def test_a_quarantined_pupils_items_wait_with_them_and_land_when_the_core_record_arrives_fixed(
    population, connector, engine, vault, tmp_path, monkeypatch
):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    school = full_grant_school(population)
    originals = list(school.pupils)
    spoiled, joiner = originals[0], originals[1]
    key = {p.mis_id: vault.pseudonyms.pupil_key(school.urn, p.mis_id) for p in (spoiled, joiner)}
    everyone = {p.mis_id for p in originals}
    try:
        with SimulatorServer(population, token=TOKEN, serve_all_schools_on_both=True).start() as server:
            sources = sources_for(server, population, tmp_path)
            # A full read: one pupil's UPN is wrong; another is not on roll yet.
            school.pupils[:] = [dataclasses.replace(spoiled, upn="Z" + spoiled.upn[1:])] + originals[2:]
            server.invalidate_cache()
            outcome = sync(engine, vault, sources, school, connector)
            assert held_rows(engine, school.urn, key[spoiled.mis_id]) == Counter()
            waiting = served_items(population, school, {spoiled.mis_id})
            entries = read_quarantine(engine, vault, school.urn)
            assert Counter(e["dataset"] for e in entries) == Counter(pupils=1) + waiting
            assert {e["rule"] for e in entries if e["dataset"] != "pupils"} == {HELD_BACK}
            assert quarantined(engine, school.urn) == sum(c.quarantined for c in outcome.counts.values())
            others = everyone - {spoiled.mis_id, joiner.mis_id}
            assert held_rows(engine, school.urn) == Counter(pupils=len(others)) + served_items(
                population, school, others
            )

            # A delta: the joiner arrives with no date of birth; their groups land for the others.
            now = datetime.now(UTC)
            school.pupils.insert(
                1, dataclasses.replace(joiner, date_of_birth=None, created_at=now, updated_at=now)
            )
            server.invalidate_cache()
            sync(engine, vault, sources, school, connector)
            assert held_rows(engine, school.urn, key[joiner.mis_id]) == Counter()
            waiting += served_items(population, school, {joiner.mis_id})
            assert quarantined(engine, school.urn) == 2 + sum(waiting.values())
            assert held_rows(engine, school.urn) == Counter(pupils=len(others)) + served_items(
                population, school, others
            )

            # Both fixed at the source: every item of theirs lands (a delta does not re-send them).
            later = now + timedelta(seconds=1)
            school.pupils[:] = [
                dataclasses.replace(spoiled, updated_at=later),
                dataclasses.replace(joiner, created_at=now, updated_at=later),
            ] + originals[2:]
            server.invalidate_cache()
            outcome = sync(engine, vault, sources, school, connector)
            assert outcome.mode == "incremental"
            assert quarantined(engine, school.urn) == 0
            assert held_rows(engine, school.urn) == Counter(pupils=len(everyone)) + served_items(
                population, school, everyone
            )
    finally:
        school.pupils[:] = originals


def test_with_bad_records_quarantine_holds_one_entry_per_bad_record_served_and_status_agrees_with_the_sync(
    engine, vault, tmp_path, monkeypatch
):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(13, 4, 10, bad_records=3)
    schools = population.approved_schools()
    assert {s.connector for s in schools} == {"wonde", "xod"}
    for connector in ("wonde", "xod"):
        entries = [registered(s) for s in schools if s.connector == connector]
        register_approved(
            engine,
            [
                SchoolEntry(r.urn, connector, r.connector_school_id, r.name, None, None, None, r.scope)
                for r in entries
            ],
            connector,
        )
    with SimulatorServer(population, token=TOKEN).start() as server:
        sources = sources_for(server, population, tmp_path)
        reported = {
            s.urn: sum(c.quarantined for c in sync(engine, vault, sources, s, s.connector).counts.values())
            for s in schools
        }
    status = {entry["urn"]: entry["counts"]["quarantined"] for entry in school_status(engine)}
    with engine.connect() as conn:
        entries = Counter(conn.execute(select(quarantine.c.school_urn, quarantine.c.dataset)).all())
    for school in schools:
        bad = set(population.bad_records(school))
        served = Counter(pupils=len(bad)) + served_items(population, school, bad)
        assert Counter({d: n for (urn, d), n in entries.items() if urn == school.urn}) == served
        assert status[school.urn] == reported[school.urn] == sum(served.values())
