"""The change-set contracts: what each sync changed about a school's pupils, kept for the audit
trail. Field names only, never values; the pupil key is the one link back to a pupil, and the
retention purge removes it when the pupil is un-named."""

from __future__ import annotations

from data_contracts.checks import one_of
from data_contracts.model import Column, Contract, PiiClass, Retention

CHANGE_KINDS = ("new", "changed", "left", "deleted", "restored")
CHANGE_SET_STATUSES = ("applied", "pending", "superseded")
_UNNAMED = dict(retention=Retention.UNNAMED)

CHANGE_SETS = Contract(
    dataset="change_sets",
    description="One per sync of one school: its counts per kind, and whether it was applied or waits.",
    scope=None,
    key=("id",),
    columns=(
        Column("id", "int", "Change set number", nullable=False, **_UNNAMED),
        Column("school_urn", "string", "The school", nullable=False, max_length=8, **_UNNAMED),
        Column("run_id", "string", "The Dagster run that computed it", max_length=64, **_UNNAMED),
        Column("created_at", "datetime", "When it was computed", nullable=False, **_UNNAMED),
        Column(
            "status",
            "string",
            "applied, pending (manual schools) or superseded by a newer one",
            nullable=False,
            max_length=16,
            checks=(one_of("change_set_status", CHANGE_SET_STATUSES, "a status"),),
            **_UNNAMED,
        ),
        Column("applied_at", "datetime", "When its changes reached the scoped tables", **_UNNAMED),
        Column("counts", "string", "JSON: pupils per kind of change", nullable=False, **_UNNAMED),
    ),
)

PUPIL_CHANGES = Contract(
    dataset="pupil_changes",
    description="One pupil's change within a change set: its kind and the names of the fields that moved.",
    scope=None,
    key=("change_set_id", "pupil_key"),
    columns=(
        Column("change_set_id", "int", "The change set", nullable=False, **_UNNAMED),
        Column(
            "pupil_key",
            "string",
            "Internal pupil key; removed when the pupil is un-named",
            max_length=64,
            pii=PiiClass.QUASI,
        ),
        Column(
            "kind",
            "string",
            "new, changed, left, deleted or restored",
            nullable=False,
            max_length=16,
            checks=(one_of("change_kind", CHANGE_KINDS, "a kind of change"),),
            **_UNNAMED,
        ),
        Column(
            "fields",
            "string",
            "JSON list of the field names that changed; never values",
            nullable=False,
            **_UNNAMED,
        ),
    ),
)
