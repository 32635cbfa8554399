"""Stores that other assets write as a side effect, declared as assets so the lineage is complete:
the audit log (every action writes it) and the un-named store (the 6-month purge writes it)."""

import dagster as dg
from data_contracts import AUDIT_LOG, UNNAMED_PUPILS

from mis_pipeline.retention.assets import UNNAMED_STORE
from mis_pipeline.sync.assets import OWNERS, contract_metadata

# Written in the transaction of each action it records; settings changes, subject access reports
# and key rotations come from the CLI, outside any asset.
audit_log = dg.AssetSpec(
    "audit_log", group_name="audit", kinds={"sql"}, owners=OWNERS, metadata=contract_metadata(AUDIT_LOG),
    deps=["school_registry", "pupil_change_set", "named_data_purge", "unnamed_data_purge", "partner_shares"],
    description=("Who did what, when, to which school: settings and consent changes, change sets applied, items "
                 "removed from scope, purges, shares, subject access reports and key rotations. Counts and URNs "
                 "only, never pupil data. Read it with `mis-pipeline audit [URN]`."),
)

unnamed_pupil_records = dg.AssetSpec(
    UNNAMED_STORE, group_name="retention", kinds={"sql"}, owners=OWNERS, deps=["named_data_purge"],
    metadata=contract_metadata(UNNAMED_PUPILS),
    description=("The un-named store: what the contract allows to be kept once a pupil's named data is purged "
                 "(school, year, NC year, sex, SEN/FSM/PP/EAL flags, attendance and assessment figures), linkable "
                 "to no one; kept for auditing for up to 5 years, then removed by the 5-year purge."),
)
