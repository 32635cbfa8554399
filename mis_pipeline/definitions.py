"""The mis_pipeline code location: composes the domain folders, nothing else."""

import dagster as dg

from mis_pipeline.audit.assets import audit_log
from mis_pipeline.config import refuse_production_without_master_key
from mis_pipeline.registry.assets import (
    every_granted_permission_understood,
    gias_establishments,
    school_registry,
)
from mis_pipeline.registry.jobs import discover_schools_job, import_gias_job
from mis_pipeline.registry.sensors import school_discovery_sensor
from mis_pipeline.resources import build_resources
from mis_pipeline.retention.assets import (
    daily_retention_purge,
    named_data_purge,
    purge_retention_job,
    retention_checks,
    retention_eligible_records,
    unlinked_after_purge,
    unlinked_after_sync,
    unnamed_data_purge,
    unnamed_pupil_records,
)
from mis_pipeline.sar.job import subject_access_report_job
from mis_pipeline.shares.assets import partner_shares, share_with_partners_job
from mis_pipeline.sync.assets import sync_school_data
from mis_pipeline.sync.check_sensors import check_after_failed_sync, check_after_sync
from mis_pipeline.sync.checks import check_school_data_job, quarantine_checks
from mis_pipeline.sync.jobs import sync_schools_job
from mis_pipeline.sync.schedules import nightly_sync_schedule
from mis_pipeline.sync.sensors import new_pupil_sensor

refuse_production_without_master_key()  # the code location does not load without one

defs = dg.Definitions(
    assets=[
        gias_establishments,
        school_registry,
        sync_school_data,
        retention_eligible_records,
        named_data_purge,
        unnamed_data_purge,
        partner_shares,
        unnamed_pupil_records,
        audit_log,
    ],
    asset_checks=[
        *quarantine_checks,
        *retention_checks,
        unlinked_after_sync,
        unlinked_after_purge,
        every_granted_permission_understood,
    ],
    jobs=[
        check_school_data_job,
        discover_schools_job,
        import_gias_job,
        sync_schools_job,
        purge_retention_job,
        share_with_partners_job,
        subject_access_report_job,
    ],
    schedules=[nightly_sync_schedule, daily_retention_purge],
    sensors=[school_discovery_sensor, new_pupil_sensor, check_after_sync, check_after_failed_sync],
    resources=build_resources(),
)
