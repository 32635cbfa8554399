"""Crash safety: a `mis-pipeline sync` process killed with SIGKILL at any point, then run again,
ends in exactly the state of an uninterrupted sync: no row lost, none duplicated, no change
reported twice.

Everything is real: a private simulator (its time moves, so the session's is never touched), the
CLI as an operator runs it in its own process group, warehouses on SQLite and PostgreSQL. A
reference warehouse syncs the same population without interruption; every other warehouse has
its sync killed at a chosen point, is synced again to completion, and must then equal the
reference, first after the initial full sync and again after the simulator moves on and an
incremental sync is killed and rerun.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mis_pipeline_tests.conftest import postgres_or_skip
from mis_pipeline_tests.sync.crash_support import (
    CLI,
    SYNC_TIMEOUT,
    Databases,
    Kill,
    KillPoint,
    Warehouse,
    World,
    clone_warehouse,
    differences,
    new_warehouse,
    set_up_through_the_cli,
    sync_killed_at,
    use_production_instance,
    warehouse_state,
)
from mis_pipeline_tests.sync.quarantine_support import served_items

ROOT = Path(__file__).resolve().parents[2]

SEED, SCHOOLS, PUPILS, BAD_RECORDS = 23, 6, 20, 2  # six approved schools: four on Wonde, two on XoD
# A sync of this population asks its simulator 60 times: 9 for school discovery (Wonde's school
# list and 4 schools' permissions, XoD's token and token details for 2), 51 for the schools' data.
DISCOVERY_REQUESTS = 9

# (warehouse, where its first full sync is killed, where its incremental sync is killed)
SCENARIOS = (
    (
        "early",
        KillPoint("first sync, during school discovery", requests=4, answered_at_most=DISCOVERY_REQUESTS - 1),
        KillPoint(
            "incremental sync, the schools' data being fetched, no school written yet",
            requests=DISCOVERY_REQUESTS + 15,
        ),
    ),
    (
        "one_at_a_time",
        KillPoint(
            "first sync, one school at a time, between the 3rd and 4th school's commits",
            schools_committed=3,
            max_workers=1,
            leaves_committed=(3, 3),
        ),
        KillPoint(
            "incremental sync, one school at a time, a transaction open after 2 schools' commits",
            schools_committed=2,
            in_transaction=True,
            max_workers=1,
            leaves_committed=(2, SCHOOLS - 1),
        ),
    ),
    (
        "in_a_transaction",
        KillPoint(
            "first sync, four schools at a time, a transaction open after a school's commit",
            schools_committed=1,
            in_transaction=True,
            leaves_committed=(1, SCHOOLS - 1),
        ),
        KillPoint(
            "incremental sync, every school committed, the run not yet ended",
            schools_committed=SCHOOLS,
            leaves_committed=(SCHOOLS, SCHOOLS),
        ),
    ),
)


@pytest.fixture
def world(tmp_path):
    """Simulators of a private population (free to move their time on) and the operator's files."""
    world = World(tmp_path / "files", os.environ, SEED, SCHOOLS, PUPILS, BAD_RECORDS)
    yield world
    world.stop()


@pytest.fixture
def databases():
    made = Databases()
    yield made
    from mis_pipeline.warehouse.engine import dispose_all
    from mis_pipeline.warehouse.vault import forget_vaults

    dispose_all()
    forget_vaults()
    made.drop_all()


def killed_then_synced(warehouse: Warehouse, point: KillPoint, logs) -> Kill:
    kill = sync_killed_at(warehouse, point, logs)
    warehouse.sync()
    return kill


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_sync_killed_at_any_point_and_run_again_ends_exactly_as_an_uninterrupted_sync(
    kind, world, databases, tmp_path
):
    if kind == "postgres":
        postgres_or_skip()
    template = new_warehouse(kind, "template", tmp_path, world, databases)
    set_up_through_the_cli(template, world)
    reference = clone_warehouse(template, "reference", tmp_path, world, databases)
    crashed = {name: clone_warehouse(template, name, tmp_path, world, databases) for name, _, _ in SCENARIOS}
    kills: list[Kill] = []

    def phase(stage: str, points: dict[str, KillPoint]) -> dict:
        """The reference syncs uninterrupted while every other warehouse's sync is killed at its
        point and run again, all at once; then each must hold exactly what the reference holds."""
        with ThreadPoolExecutor(max_workers=len(points) + 1) as pool:
            uninterrupted = pool.submit(reference.sync)
            killed = {
                name: pool.submit(killed_then_synced, crashed[name], point, tmp_path / name / stage)
                for name, point in points.items()
            }
            uninterrupted.result()
            for future in killed.values():
                kills.append(kill := future.result())
                assert kill.returncode == -signal.SIGKILL, kill
                low, high = kill.point.leaves_committed
                assert low <= kill.schools_committed <= high, kill
                assert kill.point.answered_at_most is None or kill.requests <= kill.point.answered_at_most, (
                    kill
                )
        expected = warehouse_state(reference)
        found = {
            f"{kind}, {point.label}": differences(warehouse_state(crashed[name]), expected)
            for name, point in points.items()
        }
        assert found == {label: [] for label in found}
        return expected

    expected = phase("first", {name: first for name, first, _ in SCENARIOS})
    population = reference.server.population
    assert (
        expected["pupil_rows"]
        == sum(len(s.pupils) - len(population.bad_records(s)) for s in population.approved_schools())
        == SCHOOLS * (PUPILS - BAD_RECORDS)
    )
    # each bad pupil's core record, and their other items held back with it
    held_back = sum(
        sum(served_items(population, s, set(population.bad_records(s))).values())
        for s in population.approved_schools()
    )
    assert sum(n for _, n in expected["quarantine"]) == SCHOOLS * BAD_RECORDS + held_back
    assert [len(c["counts"]) for c in expected["change_sets"].values()] == [1] * SCHOOLS

    # New pupils, changed names, leavers, deletions and replaced UPNs at every school, identically
    # on every simulator; the reference has synced fully before, as has every killed warehouse.
    changes = world.advance()
    assert all(log == changes[0] for log in changes) and set(changes[0]["schools"]) == set(world.urns)
    expected = phase("incremental", {name: incremental for name, _, incremental in SCENARIOS})
    assert [len(c["counts"]) for c in expected["change_sets"].values()] == [2] * SCHOOLS

    for kill in kills:
        print(
            f"{kind}: killed at {kill.seconds:.2f} s, {kill.requests} requests answered, "
            f"{kill.schools_committed} schools committed: {kill.point.label}"
        )


def test_syncs_killed_on_the_postgres_production_instance_leave_no_pool_slot_that_blocks_the_next_sync(
    world, databases, tmp_path, monkeypatch
):
    """The production instance (deploy/dagster.yaml) bounds the connector_sync pool. A
    killed sync must not keep its slot for ever: once `default_limit` syncs were killed, the next
    sync has to run, not wait for slots held by processes that no longer exist."""
    import dagster as dg

    postgres_or_skip()
    warehouse = new_warehouse("postgres", "production", tmp_path, world, databases)
    home = use_production_instance(warehouse, ROOT)
    set_up_through_the_cli(warehouse, world)
    for name in (
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_DB",
        "DAGSTER_PG_PORT",
    ):
        monkeypatch.setenv(name, warehouse.env[name])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        limit = instance.event_log_storage.get_pool_config().default_pool_limit or 1
        killed: set[str] = set()
        for n in range(limit):  # each killed inside its sync run, after discovery, its step holding a slot
            kill = sync_killed_at(
                warehouse,
                KillPoint("sync run started", requests=DISCOVERY_REQUESTS + 10),
                tmp_path / f"killed-{n}",
            )
            assert kill.returncode == -signal.SIGKILL
            # (each new command fails the runs of killed processes first, so collect them as they come)
            killed |= {
                run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            }
        assert len(killed) >= limit

        rerun = subprocess.Popen(
            [CLI, "sync"],
            env=warehouse.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline, stuck = time.monotonic() + SYNC_TIMEOUT, None
        while rerun.poll() is None and time.monotonic() < deadline:
            info = instance.event_log_storage.get_concurrency_info("connector_sync")
            if info.pending_run_ids and info.active_run_ids and info.active_run_ids <= killed:
                stuck = info  # waiting for slots that only dead processes hold: it can never run
                break
            time.sleep(0.5)
        if rerun.poll() is None:
            os.killpg(rerun.pid, signal.SIGKILL)
            rerun.wait()
        assert stuck is None, (
            f"the sync after {limit} killed syncs waits for a connector_sync slot held by "
            f"killed runs {sorted(stuck.active_run_ids)} (still STARTED); it would wait forever"
        )
        assert rerun.returncode == 0
        # the next command found the killed runs' processes gone: they are failed, their slots free
        statuses = {instance.get_run_by_id(run_id).status for run_id in killed}
        assert statuses == {dg.DagsterRunStatus.FAILURE}
