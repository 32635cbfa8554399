"""After every sync run the UI or automation started, the contract checks of the same schools.

The CLI's `sync` runs them itself; a run from the launchpad, the nightly schedule or the new-pupil
sensor gets them from here, so each school partition's check result is never older than its data.
"""

from __future__ import annotations

import dagster as dg

from mis_pipeline.registry.run_tags import RANGE_END, RANGE_START, TRIGGER_TAG
from mis_pipeline.sync.checks import check_school_data_job
from mis_pipeline.sync.jobs import sync_schools_job

CHECK_AFTER_SYNC = "check_after_sync"
PARTITION_TAG = "dagster/partition"


def check_run_request(sync_run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    """The check run for the schools a finished sync run covered (pure: reads the run's tags)."""
    tags = sync_run.tags
    if tags.get(TRIGGER_TAG, "").startswith("cli:"):
        return dg.SkipReason(f"run {sync_run.run_id} was started by the CLI, which checks its own schools")
    if RANGE_START in tags and RANGE_END in tags:
        schools = {RANGE_START: tags[RANGE_START], RANGE_END: tags[RANGE_END]}
    elif PARTITION_TAG in tags:
        schools = {PARTITION_TAG: tags[PARTITION_TAG]}
    else:
        return dg.SkipReason(f"run {sync_run.run_id} names no school partitions")
    return dg.RunRequest(
        run_key=f"checks-after-{sync_run.run_id}", tags={**schools, TRIGGER_TAG: CHECK_AFTER_SYNC}
    )


def _after(status: dg.DagsterRunStatus, name: str) -> dg.SensorDefinition:
    # A failed sync run still committed every other school in its range, so those are checked too.
    @dg.run_status_sensor(
        name=name,
        run_status=status,
        monitored_jobs=[sync_schools_job],
        request_job=check_school_data_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the contract checks of the schools a sync run (from the UI or "
        "automation) covered; reads the warehouse only.",
    )
    def sensor(context: dg.RunStatusSensorContext):
        return check_run_request(context.dagster_run)

    return sensor


check_after_sync = _after(dg.DagsterRunStatus.SUCCESS, CHECK_AFTER_SYNC)
check_after_failed_sync = _after(dg.DagsterRunStatus.FAILURE, f"{CHECK_AFTER_SYNC}_failure")
