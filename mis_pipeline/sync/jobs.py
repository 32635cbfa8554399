"""Jobs that the CLI, schedules and the UI launch."""

import dagster as dg

DISCOVER_SCHOOLS_JOB = "discover_schools"
IMPORT_GIAS_JOB = "import_gias"
SYNC_SCHOOLS_JOB = "sync_schools"

discover_schools_job = dg.define_asset_job(
    DISCOVER_SCHOOLS_JOB, selection=["school_registry"],
    description="Read the connectors' approved schools into the registry and the `schools` partitions.",
)

sync_schools_job = dg.define_asset_job(
    SYNC_SCHOOLS_JOB, selection=dg.AssetSelection.groups("sync"),
    executor_def=dg.in_process_executor,  # one step; a subprocess per run would only add seconds
    description="Sync the schools in the run's partition range: extract, validate, write.",
)

import_gias_job = dg.define_asset_job(
    IMPORT_GIAS_JOB, selection=["gias_establishments"],
    description="Import a GIAS establishment extract (run config: the file's path).",
)
