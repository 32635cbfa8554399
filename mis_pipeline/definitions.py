"""The mis_pipeline code location: composes the domain folders, nothing else."""

import dagster as dg

from mis_pipeline.registry.assets import school_registry
from mis_pipeline.resources import build_resources
from mis_pipeline.sync.assets import sync_core_pupils
from mis_pipeline.sync.jobs import discover_schools_job, sync_schools_job

defs = dg.Definitions(
    assets=[school_registry, sync_core_pupils],
    jobs=[discover_schools_job, sync_schools_job],
    resources=build_resources(),
)
