"""The audit log as an asset, so the lineage is complete: every action writes it as a side effect,
in the transaction of the action it records."""

import dagster as dg

from data_contracts import AUDIT_LOG
from mis_pipeline.sync.assets import OWNERS, contract_metadata

# Written in the transaction of each action it records; settings changes, subject access reports
# and key rotations come from the CLI, outside any asset.
audit_log = dg.AssetSpec(
    "audit_log",
    group_name="audit",
    kinds={"sql"},
    owners=OWNERS,
    metadata=contract_metadata(AUDIT_LOG),
    deps=["school_registry", "pupil_change_set", "named_data_purge", "unnamed_data_purge", "partner_shares"],
    description=(
        "Who did what, when, to which school: settings and consent changes, change sets applied, items "
        "removed from scope, purges, shares, subject access reports and key rotations. Counts and URNs "
        "only, never pupil data. Read it with `mis-pipeline audit [URN]`."
    ),
)
