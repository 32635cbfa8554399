"""The registry's jobs: read the connectors' approved schools, and import a GIAS extract."""

import dagster as dg

DISCOVER_SCHOOLS_JOB = "discover_schools"
IMPORT_GIAS_JOB = "import_gias"

discover_schools_job = dg.define_asset_job(
    DISCOVER_SCHOOLS_JOB,
    selection=["school_registry"],
    description="Read the connectors' approved schools into the registry and the `schools` partitions.",
)

import_gias_job = dg.define_asset_job(
    IMPORT_GIAS_JOB,
    selection=["gias_establishments"],
    description="Import a GIAS establishment extract (run config: the file's path).",
)
