"""Jobs that the CLI, schedules and the UI launch."""

import dagster as dg

from mis_pipeline.registry.run_tags import TRIGGER_TAG
from mis_pipeline.sync.distributed import SYNC_SCHOOLS_CELERY_JOB, sync_celery_executor, sync_executor_name

SYNC_SCHOOLS_JOB = "sync_schools"

sync_schools_job = dg.define_asset_job(
    # Without the contract checks: they are read-only steps of their own (`check_school_data`), so a
    # run whose tables did not change never shows them "skipped", hiding an earlier failure.
    SYNC_SCHOOLS_JOB,
    selection=dg.AssetSelection.groups("sync").without_checks(),
    executor_def=dg.in_process_executor,  # one step; a subprocess per run would only add seconds
    tags={TRIGGER_TAG: "ui"},  # a run launched from the UI; the CLI and automation set their own
    description=(
        "Sync the schools in the run's partition range: extract, validate, write. Manual schools' "
        "changes are held as pending unless `manual_schools: apply` is chosen."
    ),
)

# The same assets with one Celery task per run (a batch of schools) for workers on other processes
# or machines (deploy/, MIS_SYNC_EXECUTOR=celery); needs the shared PostgreSQL instance.
sync_schools_celery_job = dg.define_asset_job(
    SYNC_SCHOOLS_CELERY_JOB,
    selection=dg.AssetSelection.groups("sync").without_checks(),
    executor_def=sync_celery_executor(),
    tags={TRIGGER_TAG: "ui"},
    description="Sync the schools in the run's partition range on a Celery worker (one task per run).",
)


def automation_sync_job():
    """The sync job the schedule and sensor start: on Celery workers with MIS_SYNC_EXECUTOR=celery."""
    return sync_schools_celery_job if sync_executor_name() == "celery" else sync_schools_job
