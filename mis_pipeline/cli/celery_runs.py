"""Celery sync runs orchestrated from the CLI's process (`MIS_SYNC_EXECUTOR=celery`): one run per
batch of schools, several in flight, each run's step a Celery task on a worker (sync/distributed.py).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import dagster as dg

from mis_pipeline.definitions import defs
from mis_pipeline.sync.distributed import SYNC_POOL, SYNC_SCHOOLS_CELERY_JOB


def sync_schools_celery() -> dg.JobDefinition:
    """The Celery sync job, resolved from the code location: the target every process (orchestrator
    and workers) reconstructs it from."""
    return defs.resolve_job_def(SYNC_SCHOOLS_CELERY_JOB)


@dataclass(frozen=True)
class CeleryRun:
    """A finished Celery sync run, read back from the instance (its events, as a run's result has)."""

    run_id: str
    success: bool
    all_events: list


def execute_on_celery(
    instance: dg.DagsterInstance, run_config: dict, tags_per_run: list[dict], runs_at_once: int
) -> list[CeleryRun]:
    """Launch one run of the Celery sync job per entry of `tags_per_run` (each names its partition
    range), up to `runs_at_once` in flight, so their steps spread over the workers. Each run is
    orchestrated by a process of its own, as Dagster's default run launcher does (Dagster's run
    set-up reconfigures logging, so two runs cannot share a process); it only submits the step to
    the broker and records the worker's events. Needs DAGSTER_HOME naming the shared instance."""
    if not tags_per_run:
        return []
    _initialise_pool(instance)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mis_pipeline.definitions"])  # each run process starts warm
    with ProcessPoolExecutor(
        max_workers=max(1, min(runs_at_once, len(tags_per_run))), mp_context=context
    ) as pool:
        run_ids = list(pool.map(_orchestrate_run, [run_config] * len(tags_per_run), tags_per_run))
    outcomes = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event]
        outcomes.append(
            CeleryRun(run_id, run is not None and run.status == dg.DagsterRunStatus.SUCCESS, events)
        )
    return outcomes


def _initialise_pool(instance: dg.DagsterInstance) -> None:
    """Create the sync pool's limit row before runs start together: Dagster creates it on a run's
    first claim, and two runs doing so at once on PostgreSQL fail one of them (unique violation)."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits and SYNC_POOL not in storage.get_concurrency_keys():
        storage.initialize_concurrency_limit_to_default(SYNC_POOL)


def _orchestrate_run(run_config: dict, tags: dict) -> str:
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(sync_schools_celery),
            instance=instance,
            run_config=run_config,
            tags=tags,
            raise_on_error=False,
        )
        return result.run_id
