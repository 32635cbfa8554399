"""The audit trail's own contract: what an auditor reads, and proof that it names no pupil.

Every column is classed as no PII and kept un-named (up to the 5-year limit); entries carry counts,
data item names, setting values and key fingerprints only.
"""

from __future__ import annotations

from data_contracts.checks import one_of
from data_contracts.model import Column, Contract, Retention

AUDIT_ACTIONS = (
    "sync",
    "settings_changed",
    "items_removed",
    "keys_rotated",
    "change_set_applied",
    "share_made",
    "purge",
    "subject_access_report",
)

_UNNAMED = dict(retention=Retention.UNNAMED)

AUDIT_LOG = Contract(
    dataset="audit_log",
    description="One entry per action on a school's data, written in the transaction of the action.",
    scope=None,  # operational: not a data item a school grants
    key=("id",),
    columns=(
        Column("id", "int", "Entry number, in the order actions happened", nullable=False, **_UNNAMED),
        Column("occurred_at", "datetime", "When the action committed (UTC)", nullable=False, **_UNNAMED),
        Column(
            "school_urn",
            "string",
            "The school concerned; none for warehouse-wide actions",
            max_length=8,
            **_UNNAMED,
        ),
        Column(
            "action",
            "string",
            "What was done",
            nullable=False,
            max_length=40,
            checks=(one_of("audit_action", AUDIT_ACTIONS, "a known audit action"),),
            **_UNNAMED,
        ),
        Column(
            "detail",
            "string",
            "JSON: counts, item names, settings, key ids; never a pupil value",
            nullable=False,
            **_UNNAMED,
        ),
        Column(
            "actor",
            "string",
            "Who or what acted: sync, cli, a schedule…",
            nullable=False,
            max_length=64,
            **_UNNAMED,
        ),
        Column("run_id", "string", "The Dagster run, when the action ran in one", max_length=64, **_UNNAMED),
    ),
)
