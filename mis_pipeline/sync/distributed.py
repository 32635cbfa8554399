"""The sync on Dagster's Celery executor: each run's step (one batch of schools, a partition range)
is a Celery task that any worker started with `dagster-celery worker start` may take.

The run itself is orchestrated where it is launched (the daemon's run launcher in production, the
CLI's process with `MIS_SYNC_EXECUTOR=celery`); the step, where the schools are contacted and
written, runs on a worker against the same Dagster instance and warehouse. The instance must be
shared by every process (PostgreSQL storage: `deploy/dagster.yaml`), and so must the environment
(MIS_DATABASE_URL, MIS_MASTER_KEY, DAGSTER_HOME, connector settings).

A worker that dies mid-batch (SIGKILL, a lost machine) loses no school: the task is acknowledged
only when it ends (`task_acks_late`), so the broker hands it to another worker, which runs the
batch again; schools the dead worker committed find an empty delta (each school commits its rows
and cursors in one transaction), the others sync. Settings that worker and orchestrator share
are in `CELERY_SETTINGS` and in `deploy/celery.yaml` (the worker's copy).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import dagster as dg
from dagster_celery import celery_executor

EXECUTOR_ENV = "MIS_SYNC_EXECUTOR"  # in_process (default) | celery
EXECUTORS = ("in_process", "celery")
BROKER_ENV, DEFAULT_BROKER = "MIS_CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//"
BACKEND_ENV, DEFAULT_BACKEND = "MIS_CELERY_BACKEND_URL", "rpc://"
SYNC_SCHOOLS_CELERY_JOB = "sync_schools_celery"
SYNC_POOL = "connector_sync"  # the sync step's pool (sync/assets.py)

# Acknowledge a task only once it ends, and put it back if its worker dies, so a killed worker's
# batch is run again elsewhere rather than lost (the run would otherwise wait for it for ever).
CELERY_SETTINGS = {"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1}


def sync_executor_name() -> str:
    """Which executor automation and the CLI sync with: MIS_SYNC_EXECUTOR, default in_process."""
    name = os.environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}, not {name!r}")
    return name


def _from_env(name: str, default: str):
    # {"env": …} keeps a broker password out of the run config the UI shows.
    return {"env": name} if os.environ.get(name) else default


def sync_celery_executor() -> dg.ExecutorDefinition:
    return celery_executor.configured({
        "broker": _from_env(BROKER_ENV, DEFAULT_BROKER),
        "backend": _from_env(BACKEND_ENV, DEFAULT_BACKEND),
        "config_source": CELERY_SETTINGS,
    }, name="sync_celery")


def sync_schools_celery() -> dg.JobDefinition:
    """The Celery sync job, resolved from the code location: the target every process (orchestrator
    and workers) reconstructs it from."""
    from mis_pipeline.definitions import defs

    return defs.resolve_job_def(SYNC_SCHOOLS_CELERY_JOB)


@dataclass(frozen=True)
class CeleryRun:
    """A finished Celery sync run, read back from the instance (its events, as a run's result has)."""

    run_id: str
    success: bool
    all_events: list


def execute_on_celery(instance: dg.DagsterInstance, run_config: dict, tags_per_run: list[dict],
                      runs_at_once: int) -> list[CeleryRun]:
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
    with ProcessPoolExecutor(max_workers=max(1, min(runs_at_once, len(tags_per_run))), mp_context=context) as pool:
        run_ids = list(pool.map(_orchestrate_run, [run_config] * len(tags_per_run), tags_per_run))
    outcomes = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event]
        outcomes.append(CeleryRun(run_id, run is not None and run.status == dg.DagsterRunStatus.SUCCESS, events))
    return outcomes


def _initialise_pool(instance: dg.DagsterInstance) -> None:
    """Create the sync pool's limit row before runs start together: Dagster creates it on a run's
    first claim, and two runs doing so at once on PostgreSQL fail one of them (unique violation)."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits and SYNC_POOL not in storage.get_concurrency_keys():
        storage.initialize_concurrency_limit_to_default(SYNC_POOL)


def _orchestrate_run(run_config: dict, tags: dict) -> str:
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(sync_schools_celery), instance=instance, run_config=run_config,
                                tags=tags, raise_on_error=False)
        return result.run_id
