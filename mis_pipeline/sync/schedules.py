"""The nightly sync schedule, and the run requests every automation shares."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import dagster as dg

from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.run_tags import RANGE_END, RANGE_START, TRIGGER_TAG
from mis_pipeline.registry.store import list_schools
from mis_pipeline.sync.assets import SYNC_OP
from mis_pipeline.sync.jobs import automation_sync_job
from mis_pipeline.sync.planning import batch_ranges, positive_int_setting
from mis_pipeline.warehouse.resource import WarehouseResource

BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE = "MIS_SYNC_BATCH_SIZE", 500
NIGHTLY_SYNC_SCHEDULE = "nightly_sync_schedule"
NIGHTLY_CRON, NIGHTLY_TIMEZONE = "0 2 * * *", "Europe/London"
# Every run started by automation carries TRIGGER_TAG (value: the sensor or schedule), so the run
# queue can hold automation to a share of the runs (`tag_concurrency_limits` in dagster.yaml).
AUTOMATION_MAX_WORKERS = 4

# Automation covers ranges of schools: manual schools' changes are only held as pending change
# sets, and a school in the range that may not be contacted (paused…) is skipped without a request.
AUTOMATION_RUN_CONFIG = {
    "ops": {
        SYNC_OP: {
            "config": {
                "max_workers": AUTOMATION_MAX_WORKERS,
                "manual_schools": "preview",
                "skip_blocked": True,
            }
        }
    }
}


def sync_batch_size() -> int:
    """Schools per run (MIS_SYNC_BATCH_SIZE, default 500), read at each evaluation so an operator's
    change applies from the next tick."""
    return positive_int_setting(BATCH_SIZE_ENV, os.environ.get(BATCH_SIZE_ENV), DEFAULT_BATCH_SIZE)


def sync_run_request(first: str, last: str, run_key: str, trigger: str) -> dg.RunRequest:
    """One `sync_schools` run over the partition range first..last, configured for automation."""
    return dg.RunRequest(
        run_key=run_key,
        run_config=AUTOMATION_RUN_CONFIG,
        tags={RANGE_START: first, RANGE_END: last, TRIGGER_TAG: trigger},
    )


def nightly_targets(warehouse: WarehouseResource, today: date) -> set[str]:
    """Every automatic school that may be contacted today."""
    return {school.urn for school in list_schools(warehouse.engine()) if school.syncs_automatically(today)}


@dg.schedule(
    name=NIGHTLY_SYNC_SCHEDULE,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=NIGHTLY_TIMEZONE,
    job=automation_sync_job(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 02:00 (Europe/London): sync every automatic school that may be contacted, "
    "MIS_SYNC_BATCH_SIZE schools per run.",
)
def nightly_sync_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    """Sync every automatic school that may be contacted, at 02:00 in England, in batched runs.

    The schools are those in automatic mode whose blocker is None on the night's date (approved at
    the connector, not paused, agreement accepted, subscription running). They are grouped over
    the `schools` partitions into ceil(N / MIS_SYNC_BATCH_SIZE) runs of `sync_schools`, each a
    partition range (single-run backfill policy), so 22,000 schools mean 44 runs, not 22,000; the
    `connector_sync` pool and the run queue bound how many go at once. A school inside a range
    that may not be contacted is skipped by the run without a request; a manual school inside one
    only gets a pending change set. On by default: it is the service the agreement describes
    (changes detected and collected automatically), it contacts only schools that may be
    contacted, and 02:00 is outside the school day, when the connectors are least busy (and it
    happens exactly once every day in London: the clocks change at 01:00 GMT).
    """
    when = context.scheduled_execution_time or datetime.now(UTC)
    today = london_today(when)
    ordered = context.instance.get_dynamic_partitions(SCHOOLS.name)
    targets = nightly_targets(warehouse, today)
    batch = sync_batch_size()
    ranges = batch_ranges(ordered, targets, batch)
    if not ranges:
        return dg.SkipReason(f"no automatic school may be contacted on {today.isoformat()}")
    unpartitioned = len(targets - set(ordered))
    context.log.info(
        f"{len(targets) - unpartitioned} automatic schools in {len(ranges)} runs of at most {batch}"
        + (f"; {unpartitioned} not yet a partition (the discovery sensor adds them)" if unpartitioned else "")
    )
    return [
        sync_run_request(first, last, f"nightly-{today.isoformat()}:{first}..{last}", NIGHTLY_SYNC_SCHEDULE)
        for first, last in ranges
    ]
