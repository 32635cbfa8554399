"""The mis_pipeline code location: composes the domain folders, nothing else."""

import dagster as dg

from mis_pipeline.config import refuse_production_without_master_key
from mis_pipeline.registry.assets import gias_establishments, school_registry
from mis_pipeline.resources import build_resources
from mis_pipeline.sync.assets import sync_school_data
from mis_pipeline.sync.jobs import discover_schools_job, import_gias_job, sync_schools_job

refuse_production_without_master_key()  # the code location does not load without one

defs = dg.Definitions(
    assets=[gias_establishments, school_registry, sync_school_data],
    jobs=[discover_schools_job, import_gias_job, sync_schools_job],
    resources=build_resources(),
)
