"""A real sync: simulator over HTTP → Dagster runs on a real instance → SQLite or PostgreSQL."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.status import school_status
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import pupils


def held_by_school(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(pupils.c.school_urn, sa.func.count()).group_by(pupils.c.school_urn)).all()
        )


def served_by_school(population) -> dict[str, int]:
    return {school.urn: len(school.pupils) for school in population.approved_schools()}


def test_a_sync_holds_exactly_the_pupils_each_approved_school_serves(
    simulator, population, registry, instance, engine
):
    summary = run_sync(instance)
    assert summary.success, summary.failure_reason
    assert held_by_school(engine) == served_by_school(population)
    assert {e["urn"] for e in school_status(engine)} == set(served_by_school(population))


def test_pending_and_revoked_schools_are_never_registered_or_contacted(
    simulator, population, registry, instance, engine
):
    simulator.clear_request_log()
    run_sync(instance)
    unapproved = {s.id for s in population.schools if not s.approved}
    assert unapproved, "the test population must include pending or revoked schools"
    contacted = {part for r in simulator.request_log for part in r.path.split("/") if part in unapproved}
    assert contacted == set()
    assert set(instance.get_dynamic_partitions("schools")) == set(served_by_school(population))


def test_a_second_sync_with_no_source_changes_writes_nothing(
    simulator, population, registry, instance, engine
):
    run_sync(instance)
    with engine.connect() as conn:
        before = conn.execute(sa.select(pupils).order_by(pupils.c.pupil_key)).all()
    summary = run_sync(instance)
    assert summary.success
    with engine.connect() as conn:
        after = conn.execute(sa.select(pupils).order_by(pupils.c.pupil_key)).all()
    assert after == before
    assert all(", 0 new, 0 updated" in line and "incremental" in line for line in summary.lines)


def test_the_values_read_back_are_the_ones_the_simulator_served(
    simulator, population, registry, instance, vault, engine
):
    run_sync(instance)
    school = population.approved_schools()[0]
    rows = {p["connector_pupil_id"]: p for p in read_pupils(engine, vault, school.urn)}
    assert len(rows) == len(school.pupils)
    for pupil in school.pupils:
        row = rows[pupil.id]
        assert (
            row["upn"],
            row["legal_forename"],
            row["legal_surname"],
            row["date_of_birth"],
            row["nc_year"],
        ) == (
            pupil.upn,
            pupil.legal_forename,
            pupil.legal_surname,
            pupil.date_of_birth,
            pupil.current_nc_year,
        )


def test_naming_one_school_syncs_only_that_school_in_one_run(
    simulator, population, registry, instance, engine
):
    urn = population.approved_schools()[1].urn
    summary = run_sync(instance, requested=[urn])
    assert summary.success
    assert held_by_school(engine) == {urn: len(population.approved_schools()[1].pupils)}
    # one sync run, and no discovery run: the registry was refreshed moments ago
    assert [instance.get_run_by_id(run_id).job_name for run_id in summary.run_ids] == ["sync_schools"]


def test_every_school_is_synced_in_a_single_run(simulator, population, registry, instance):
    summary = run_sync(instance)
    sync_runs = instance.get_run_records(dg.RunsFilter(job_name="sync_schools"))
    assert len(sync_runs) == 1 and sync_runs[0].dagster_run.run_id in summary.run_ids
    materialized = instance.get_materialized_partitions(dg.AssetKey("pupils"))
    assert materialized == set(served_by_school(population))


def test_a_sync_that_finds_no_changes_rematerialises_nothing(simulator, population, registry, instance):
    run_sync(instance)
    before = instance.get_latest_materialization_event(dg.AssetKey("pupils"))
    summary = run_sync(instance)
    assert summary.success
    assert instance.get_latest_materialization_event(dg.AssetKey("pupils")).run_id == before.run_id
    sync_runs = instance.get_run_records(dg.RunsFilter(job_name="sync_schools"))
    assert len(sync_runs) == 2  # the no-op still ran, and is recorded


PERMISSION_OF = {
    "pupil_details": "students.extended.read",
    "attendance_sessions": "attendance.read",
    "assessment_results": "assessment.read",
    "pupil_groups": "groups.read",
}


def expected_rows(population, dataset: str) -> dict[str, int]:
    from mis_simulator.datasets import build_school_datasets

    expected = {}
    for school in population.approved_schools():
        if not school.permissions[PERMISSION_OF[dataset]]:
            continue
        data = build_school_datasets(population.seed, school)
        expected[school.urn] = {
            "pupil_details": len(data.details),
            "attendance_sessions": len(data.attendance),
            "assessment_results": len(data.results),
            "pupil_groups": sum(len(g.member_ids) for g in data.groups),
        }[dataset]
    return expected


def test_every_granted_item_lands_with_the_simulators_counts_and_nothing_else(
    simulator, population, registry, instance, engine
):
    """The session simulator serves documented shapes only (connectors.md), Wonde and XoD alike."""
    from mis_pipeline.warehouse.schema import DATASET_TABLES

    assert not simulator.xod.inferred_fields
    assert {s.connector for s in population.approved_schools()} == {"wonde", "xod"}
    assert run_sync(instance).success
    for dataset, table in DATASET_TABLES.items():
        with engine.connect() as conn:
            held = dict(
                conn.execute(
                    sa.select(table.c.school_urn, sa.func.count()).group_by(table.c.school_urn)
                ).all()
            )
        expected = expected_rows(population, dataset)
        assert held == expected, dataset
        assert len(expected) < len(population.approved_schools()), f"some school must withhold {dataset}"
