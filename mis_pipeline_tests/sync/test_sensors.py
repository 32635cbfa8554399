"""The new-pupil sensor, evaluated with Dagster's sensor context on a real instance against the
simulator over HTTP, and the runs it asks for executed there."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import run_job
from mis_pipeline.definitions import defs
from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB, IMPORT_GIAS_JOB
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.resources import build_resources
from mis_pipeline.sync.jobs import SYNC_SCHOOLS_JOB
from mis_pipeline.sync.planning import ProbeCursor
from mis_pipeline.sync.schedules import AUTOMATION_RUN_CONFIG
from mis_pipeline.sync.sensors import new_pupil_sensor
from mis_pipeline.warehouse.change_store import read_change_sets
from mis_pipeline_tests.private_sim import private_simulator
from mis_simulator.advance import advance
from mis_simulator.population import build_population
from mis_simulator.xod_api import estab_of

SQLITE = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
APPROVED = [
    "100002",
    "100048",
    "100087",
    "100143",
    "100180",
    "100191",
    "100266",
    "100321",
    "100352",
    "100429",
]


class Collected(logging.Handler):
    """The sensor's log lines, as an operator reads them in the tick's log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))


def evaluate(instance, cursor: str | None = None) -> tuple[dg.SensorResult, list[tuple[str, str]]]:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=build_resources())
    collected = Collected()
    context.log.addHandler(collected)
    return new_pupil_sensor.evaluate_tick(context), collected.lines


def ranges(data) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in data.run_requests]


def execute(instance, data) -> None:
    """Run each request as the daemon would launch it: its config and tags, on the instance."""
    for request in data.run_requests:
        assert run_job(instance, SYNC_SCHOOLS_JOB, request.run_config, tags=request.tags).success


def contacted(simulator, schools) -> set[str]:
    """URNs whose Wonde id or XoD estab is in a request path since the log was cleared."""
    paths = [record.path for record in simulator.request_log]
    return {s.urn for s in schools if any(s.id in p or estab_of(s) in p for p in paths)}


def test_the_sensor_polls_every_five_minutes_and_is_off_until_an_operator_turns_it_on():
    assert new_pupil_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert new_pupil_sensor.minimum_interval_seconds == 300
    assert new_pupil_sensor.job_name == SYNC_SCHOOLS_JOB


# ── against a source that moves on ───────────────────────────────────────────────────────────
@pytest.fixture
def moving_source(mis_env, instance, tmp_path, monkeypatch):
    """A simulator of the test's own (its time moves on) and a registry discovered from it, every
    school's agreement accepted: 5 approved schools, 100084 on XoD, the others on Wonde."""
    population = build_population(seed=3, schools=5, pupils_per_school=10)
    with private_simulator(population, tmp_path) as (server, env):
        for name in ("WONDE_API_URL", "XPORTER_API_URL", "XPORTER_SCHOOL_SECRETS"):
            monkeypatch.setenv(name, env[name])
        gias = {"ops": {"gias_establishments": {"config": {"path": env["MIS_TEST_GIAS"]}}}}
        assert (
            run_job(instance, IMPORT_GIAS_JOB, gias).success
            and run_job(instance, DISCOVER_SCHOOLS_JOB).success
        )
        from mis_pipeline.warehouse.engine import get_engine

        urns = instance.get_dynamic_partitions("schools")
        apply_settings(
            get_engine(), urns, SettingsChange(agreement_accepted_on=date(2026, 9, 1)), actor="test"
        )
        yield server, population


@SQLITE
def test_changed_schools_get_batched_runs_manual_ones_a_pending_change_set_and_a_paused_one_no_request(
    moving_source, instance, engine, monkeypatch
):
    server, population = moving_source
    manual, paused = "100037", "100113"
    assert instance.get_dynamic_partitions("schools") == ["100022", "100037", "100084", "100113", "100151"]
    apply_settings(engine, [manual], SettingsChange(sync_mode="manual"), actor="test")
    apply_settings(engine, [paused], SettingsChange(paused=True), actor="test")
    monkeypatch.setenv("MIS_SYNC_BATCH_SIZE", "2")

    # Never synced: every contactable school counts as changed, and none is asked anything.
    server.clear_request_log()
    first, _ = evaluate(instance)
    assert server.request_log == []
    # 4 schools, ceil(4 / 2) runs; the paused 100113 lies inside the second, which skips it.
    assert ranges(first) == [("100022", "100037"), ("100084", "100151")]
    assert all(
        r.run_config == AUTOMATION_RUN_CONFIG and r.tags["mis/trigger"] == "new_pupil_sensor"
        for r in first.run_requests
    )
    tick = json.loads(first.cursor)["tick"]
    assert json.loads(first.cursor) == {"after": "100151", "tick": tick}
    assert [r.run_key for r in first.run_requests] == [
        f"new-pupils@{tick}:100022..100037",
        f"new-pupils@{tick}:100084..100151",
    ]
    execute(instance, first)

    # The source moves on at its first three schools (inside the sync's 10-minute cursor overlap).
    log = advance(population, at=datetime.now(UTC) - timedelta(minutes=5), max_schools=3)
    server.invalidate_all_caches()  # as SimulatorServer.advance does, which has no max_schools
    assert sorted(log.schools) == ["100022", "100037", "100084"]
    server.clear_request_log()
    second, lines = evaluate(instance, first.cursor)
    assert ranges(second) == [("100022", "100037"), ("100084", "100084")]
    assert ("INFO", "probed 4 schools: 3 with changes, 0 not reachable") in lines
    # The manual school's cursor moves only when a person applies its changes: until then it is
    # still unsynced, so it counts as changed without a request.
    assert contacted(server, population.schools) == {"100022", "100084", "100151"}

    server.clear_request_log()
    execute(instance, second)
    assert paused not in contacted(server, population.schools)
    latest = {urn: read_change_sets(engine, urn)[-1]["status"] for urn in log.schools}
    assert latest == {"100022": "applied", "100037": "pending", "100084": "applied"}


# ── against the session simulator (its time never moves) ─────────────────────────────────────
@SQLITE
def test_ticks_probe_the_next_three_schools_round_robin_with_the_cheapest_requests_and_never_a_paused_one(
    registry, engine, simulator, population, monkeypatch
):
    assert run_sync(registry).success  # every school synced: it has a stored cursor
    paused = ["100087", "100143"]  # one on XoD, one on Wonde
    apply_settings(engine, paused, SettingsChange(paused=True), actor="test")
    monkeypatch.setenv("MIS_SENSOR_SCHOOLS_PER_TICK", "3")
    by_urn = {school.urn: school for school in population.schools}

    # (schools probed, cursor after the tick): the paused ones are passed over, the third tick wraps.
    expected = [
        (["100002", "100048", "100180"], "100180"),
        (["100191", "100266", "100321"], "100321"),
        (["100352", "100429", "100002"], "100002"),
    ]
    cursor = None
    for window, after in expected:
        simulator.clear_request_log()
        data, _ = evaluate(registry, cursor)
        assert data.run_requests == [] and data.skip_message == "no changes at the 3 schools probed"
        assert contacted(simulator, population.schools) == set(window)
        cursor = data.cursor
        assert ProbeCursor.parse(cursor).after == after
        if "100191" in window:  # XoD: one row of Students by changedRows from the stored hash
            estab = estab_of(by_urn["100191"])
            [students] = [r for r in simulator.request_log if estab in r.path]
            assert (students.path, students.query["pageSize"]) == (f"/api/v1/School/{estab}/Students", ["1"])
            assert students.query["changedRows"] != ["*"]
        if (
            "100048" in window
        ):  # Wonde: the school (its domain), then one record of students, leavers, deletions
            wonde = by_urn["100048"].id
            asked = [r for r in simulator.request_log if wonde in r.path]
            assert [r.path for r in asked] == [
                f"/v1.0/schools/{wonde}{tail}" for tail in ("", "/students", "/students-leaver", "/deletions")
            ]
            assert [r.query.get("per_page") for r in asked[1:]] == [["1"], ["1"], ["1"]]


@SQLITE
def test_a_school_that_cannot_be_probed_is_logged_and_skipped_and_the_tick_carries_on(
    registry, engine, simulator, tmp_path, monkeypatch
):
    xod_school = "100087"
    assert run_job(
        registry,
        SYNC_SCHOOLS_JOB,
        AUTOMATION_RUN_CONFIG,
        tags={RANGE_START: xod_school, RANGE_END: xod_school},
    ).success
    # Its secret is gone from the secrets file (the school withdrew, discovery has not yet run).
    secrets = json.loads(Path(os.environ["XPORTER_SCHOOL_SECRETS"]).read_text(encoding="utf-8"))
    del secrets["2104002"]
    reduced = tmp_path / "secrets.json"
    reduced.write_text(json.dumps(secrets))
    monkeypatch.setenv("XPORTER_SCHOOL_SECRETS", str(reduced))

    data, lines = evaluate(registry)

    assert (
        "WARNING",
        "school 100087: new-pupil probe failed, skipped this tick: "
        "estab 2104002: no XoD school secret on file",
    ) in lines
    assert not any("xod-secret" in line for _, line in lines)
    # The others have never been synced, so they all changed; 100087 (contactable, not
    # changed as far as anyone knows) closes the range so it is not synced for nothing.
    assert ranges(data) == [("100002", "100048"), ("100143", "100429")]


@SQLITE
def test_schools_already_in_a_queued_or_running_sync_are_not_probed_again(registry, simulator):
    job = defs.resolve_job_def(SYNC_SCHOOLS_JOB)
    registry.create_run_for_job(
        job,
        run_config=AUTOMATION_RUN_CONFIG,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={RANGE_START: "100002", RANGE_END: "100087"},
    )
    data, _ = evaluate(registry)
    assert ranges(data) == [("100143", "100429")]
    assert ProbeCursor.parse(data.cursor).after == "100429"
