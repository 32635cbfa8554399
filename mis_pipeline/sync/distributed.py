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

import os

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
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}


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
    return celery_executor.configured(
        {
            "broker": _from_env(BROKER_ENV, DEFAULT_BROKER),
            "backend": _from_env(BACKEND_ENV, DEFAULT_BACKEND),
            "config_source": CELERY_SETTINGS,
        },
        name="sync_celery",
    )
