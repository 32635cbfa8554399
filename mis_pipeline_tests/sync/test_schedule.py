"""The nightly sync schedule, evaluated with Dagster's schedule context on a real instance, and
the runs it asks for executed there against the simulator."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from mis_pipeline.cli.runs import run_job
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.resources import build_resources
from mis_pipeline.sync.jobs import SYNC_SCHOOLS_JOB
from mis_pipeline.sync.schedules import (
    AUTOMATION_RUN_CONFIG,
    nightly_sync_schedule,
    sync_batch_size,
)
from mis_pipeline.warehouse.change_store import pending_change_sets
from mis_pipeline.warehouse.schema import pupils
from mis_simulator.xod_api import estab_of

# Heavy tests run on SQLite only: the warehouse dialects are covered by the sync tests.
SQLITE = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)

TWO_AM = datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("Europe/London"))
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# The session population's approved schools, in partition order (discovery adds them sorted).
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
MANUAL, PAUSED_WONDE, PAUSED_XOD = "100048", "100143", "100087"


def tick(instance) -> list[dg.RunRequest] | dg.SkipReason:
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TWO_AM, resources=build_resources()
    )
    data = nightly_sync_schedule.evaluate_tick(context)
    return data.run_requests if data.run_requests else dg.SkipReason(data.skip_message)


def execute(instance, requests: list[dg.RunRequest]) -> list[dg.ExecuteInProcessResult]:
    """Run each request as the daemon would launch it: its config and tags, on the instance."""
    return [
        run_job(instance, SYNC_SCHOOLS_JOB, request.run_config, tags=request.tags) for request in requests
    ]


def pupils_held(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(pupils.c.school_urn, sa.func.count()).group_by(pupils.c.school_urn)).all()
        )


def test_the_code_location_holds_the_schedule_and_both_sensors_with_their_defaults():
    from mis_pipeline.definitions import defs

    defaults = {
        name: defs.resolve_sensor_def(name).default_status.value
        for name in ("school_discovery_sensor", "new_pupil_sensor")
    }
    defaults["nightly_sync_schedule"] = defs.resolve_schedule_def(
        "nightly_sync_schedule"
    ).default_status.value
    assert defaults == {
        "school_discovery_sensor": "RUNNING",
        "new_pupil_sensor": "STOPPED",
        "nightly_sync_schedule": "RUNNING",
    }


def test_the_schedule_runs_at_two_in_the_morning_london_time_and_is_on_by_default():
    assert nightly_sync_schedule.cron_schedule == "0 2 * * *"
    assert nightly_sync_schedule.execution_timezone == "Europe/London"
    assert nightly_sync_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert nightly_sync_schedule.job_name == SYNC_SCHOOLS_JOB


@SQLITE
def test_a_tick_for_eight_automatic_schools_in_batches_of_three_asks_for_three_runs(
    registry, engine, monkeypatch
):
    monkeypatch.setenv("MIS_SYNC_BATCH_SIZE", "3")
    apply_settings(engine, [MANUAL], SettingsChange(sync_mode="manual"), actor="test")
    apply_settings(engine, [PAUSED_WONDE], SettingsChange(paused=True), actor="test")
    assert registry.get_dynamic_partitions("schools") == APPROVED

    requests = tick(registry)

    # 10 approved, less one manual and one paused: 8 automatic schools, ceil(8 / 3) = 3 runs.
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [
        ("100002", "100180"),
        ("100191", "100321"),
        ("100352", "100429"),
    ]
    assert [r.run_key for r in requests] == [
        "nightly-2026-11-30:100002..100180",
        "nightly-2026-11-30:100191..100321",
        "nightly-2026-11-30:100352..100429",
    ]
    assert all(r.tags["mis/trigger"] == "nightly_sync_schedule" for r in requests)
    assert all(
        r.run_config
        == {
            "ops": {
                "sync_school_data": {
                    "config": {"max_workers": 4, "manual_schools": "preview", "skip_blocked": True}
                }
            }
        }
        for r in requests
    )
    assert requests[0].run_config == AUTOMATION_RUN_CONFIG


@SQLITE
def test_the_nightly_runs_sync_every_automatic_school_and_send_a_paused_one_no_request(
    registry, engine, simulator, population, monkeypatch
):
    monkeypatch.setenv("MIS_SYNC_BATCH_SIZE", "4")
    apply_settings(engine, [MANUAL], SettingsChange(sync_mode="manual"), actor="test")
    apply_settings(engine, [PAUSED_WONDE, PAUSED_XOD], SettingsChange(paused=True), actor="test")
    requests = tick(registry)
    assert len(requests) == 2  # 7 automatic schools, ceil(7 / 4)

    simulator.clear_request_log()
    results = execute(registry, requests)

    assert all(result.success for result in results)
    by_urn = {school.urn: school for school in population.schools}
    paths = [record.path for record in simulator.request_log]
    assert not [p for p in paths if by_urn[PAUSED_WONDE].id in p or estab_of(by_urn[PAUSED_XOD]) in p]
    automatic = set(APPROVED) - {MANUAL, PAUSED_WONDE, PAUSED_XOD}
    contacted = {
        urn
        for urn in automatic | {MANUAL}
        if any(by_urn[urn].id in p or estab_of(by_urn[urn]) in p for p in paths)
    }
    assert contacted == automatic | {MANUAL}
    assert pupils_held(engine) == {urn: len(by_urn[urn].pupils) for urn in automatic}
    # The manual school lies inside the first range: its changes wait as a pending change set.
    assert requests[0].tags[RANGE_START] < MANUAL < requests[0].tags[RANGE_END]
    assert set(pending_change_sets(engine)) == {MANUAL}


@SQLITE
def test_with_no_automatic_school_to_contact_the_tick_is_skipped_with_the_reason(instance, engine):
    assert tick(instance).skip_message == "no automatic school may be contacted on 2026-11-30"


def test_the_batch_size_comes_from_the_environment_and_defaults_to_five_hundred(monkeypatch):
    monkeypatch.delenv("MIS_SYNC_BATCH_SIZE", raising=False)
    assert sync_batch_size() == 500
    monkeypatch.setenv("MIS_SYNC_BATCH_SIZE", "25")
    assert sync_batch_size() == 25
