"""The new-pupil sensor: cheap, bounded polling for changes, and sync runs for schools that have some."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import dagster as dg

from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.run_tags import RANGE_END, RANGE_START
from mis_pipeline.registry.store import RegisteredSchool, list_schools
from mis_pipeline.sync.jobs import automation_sync_job
from mis_pipeline.sync.planning import (
    ProbeCursor,
    batch_ranges,
    keys_in_ranges,
    positive_int_setting,
    round_robin,
)
from mis_pipeline.sync.probes import CORE_DATASET, Probe, probe_schools
from mis_pipeline.sync.runner import scoped_datasets
from mis_pipeline.sync.schedules import sync_batch_size, sync_run_request
from mis_pipeline.warehouse.resource import WarehouseResource
from mis_pipeline.warehouse.school_store import read_cursors

NEW_PUPIL_SENSOR = "new_pupil_sensor"
SCHOOLS_PER_TICK_ENV, DEFAULT_SCHOOLS_PER_TICK = "MIS_SENSOR_SCHOOLS_PER_TICK", 50
TICK_INTERVAL_SECONDS = 300
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def schools_per_tick() -> int:
    return positive_int_setting(
        SCHOOLS_PER_TICK_ENV, os.environ.get(SCHOOLS_PER_TICK_ENV), DEFAULT_SCHOOLS_PER_TICK
    )


def syncing_now(instance: dg.DagsterInstance, ordered: list[str]) -> set[str]:
    """Schools in a `sync_schools` run that is queued or running: probing them again would only
    ask for a second, concurrent sync of the same changes."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=automation_sync_job().name, statuses=IN_FLIGHT))
    ranges = [
        (run.tags[RANGE_START], run.tags[RANGE_END])
        for run in runs
        if RANGE_START in run.tags and RANGE_END in run.tags
    ]
    singles = {run.tags["dagster/partition"] for run in runs if "dagster/partition" in run.tags}
    return keys_in_ranges(ordered, ranges) | singles


def _probeable(registry: dict[str, RegisteredSchool], today: date, busy: set[str]) -> set[str]:
    """Schools that may be contacted today, hold the core record's grant (without it a sync asks
    nothing) and are not being synced already. Paused and blocked schools are never probed."""
    return {
        urn
        for urn, school in registry.items()
        if school.blocker(today) is None and CORE_DATASET in scoped_datasets(school) and urn not in busy
    }


def _report(context: dg.SensorEvaluationContext, probes: list[Probe]) -> None:
    for probe in probes:
        if probe.failure:  # one line from the connector error: the school and path, no values
            context.log.warning(
                f"school {probe.urn}: new-pupil probe failed, skipped this tick: {probe.failure}"
            )
    changed = sum(p.changed for p in probes)
    failed = sum(p.failure is not None for p in probes)
    context.log.info(f"probed {len(probes)} schools: {changed} with changes, {failed} not reachable")


@dg.sensor(
    name=NEW_PUPIL_SENSOR,
    job=automation_sync_job(),
    minimum_interval_seconds=TICK_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Probes MIS_SENSOR_SCHOOLS_PER_TICK contactable schools per tick, round-robin, for changes "
    "since their stored cursor, and requests sync runs for those with changes. Off by default.",
)
def new_pupil_sensor(
    context: dg.SensorEvaluationContext, wonde: WondeResource, xod: XodResource, warehouse: WarehouseResource
):
    """Find new pupils and changes during the day, a bounded number of schools per tick.

    Each tick asks at most MIS_SENSOR_SCHOOLS_PER_TICK (default 50) schools that may be contacted,
    carrying on round the `schools` partitions from the last school it asked (the cursor), the
    cheapest question each connector allows: anything since the stored cursor? (`probes.py`). A
    school with changes gets a `sync_schools` run, batched like the nightly sync (MIS_SYNC_BATCH_SIZE
    schools with changes per run): an automatic school's changes land, a manual school's are held
    as a pending change set (whose changes stay "since the stored cursor" until a person applies
    them, so such a school is previewed again each time round). A school that cannot
    be asked is logged and skipped, never failing the tick; paused and blocked schools, and
    schools already in a queued or running sync, are not asked at all. Off by default: it polls
    every contactable school all day, many more requests than the nightly sync's, so an operator
    turns it on once the connectors' rate limits are agreed.
    """
    cursor = ProbeCursor.parse(context.cursor)
    engine, today = warehouse.engine(), london_today()
    ordered = context.instance.get_dynamic_partitions(SCHOOLS.name)
    registry = {school.urn: school for school in list_schools(engine)}
    probeable = _probeable(registry, today, syncing_now(context.instance, ordered))
    window = round_robin(ordered, cursor.after, schools_per_tick(), probeable)
    probes = probe_schools(
        [registry[urn] for urn in window],
        {urn: read_cursors(engine, urn).get(CORE_DATASET) for urn in window},
        wonde,
        xod,
    )
    _report(context, probes)
    tick = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    next_cursor = ProbeCursor(window[-1] if window else cursor.after, tick).to_json()
    requests = _run_requests(ordered, registry, today, {p.urn for p in probes if p.changed}, tick)
    if not requests:
        return dg.SensorResult(
            skip_reason=f"no changes at the {len(window)} schools probed", cursor=next_cursor
        )
    return dg.SensorResult(cursor=next_cursor, run_requests=requests)


def _run_requests(
    ordered: list[str], registry: dict[str, RegisteredSchool], today: date, changed: set[str], tick: str
) -> list[dg.RunRequest]:
    """Batched like the nightly sync, but only schools the run skips without a request (blocked,
    unregistered) may sit between two with changes: an unchanged contactable school closes the
    range, so it is not synced for nothing, and a range never spans the schools outside the tick."""
    skipped_by_the_run = [
        urn for urn in ordered if urn not in registry or registry[urn].blocker(today) is not None
    ]
    return [
        sync_run_request(first, last, f"new-pupils@{tick}:{first}..{last}", NEW_PUPIL_SENSOR)
        for first, last in batch_ranges(ordered, changed, sync_batch_size(), skipped_by_the_run)
    ]
