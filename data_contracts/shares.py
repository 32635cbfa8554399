"""The share contracts: which partner received which schools' data, and which pupils were in it.

A share itself is a decrypted copy for one partner; the warehouse keeps only the record that it was
made (counts and a checksum) and, while a pupil is held named, that the pupil was in it, so a
subject access report can say who received the pupil's data and when.
"""

from __future__ import annotations

from data_contracts.model import Column, Contract, PiiClass, Retention

_UNNAMED = dict(retention=Retention.UNNAMED)

SHARE_LOG = Contract(
    dataset="share_log",
    description="One per share made: the partner, when, the schools and row counts, the manifest checksum.",
    scope=None,
    key=("id",),
    columns=(
        Column("id", "int", "Share number", nullable=False, **_UNNAMED),
        Column(
            "partner",
            "string",
            "la-<LA code>, trust-<trust UID> or diocese-<diocese code>",
            nullable=False,
            max_length=24,
            **_UNNAMED,
        ),
        Column("made_at", "datetime", "When the share was written", nullable=False, **_UNNAMED),
        Column("schools", "string", "JSON list of the URNs in the share", nullable=False, **_UNNAMED),
        Column("counts", "string", "JSON: rows per dataset", nullable=False, **_UNNAMED),
        Column(
            "manifest_sha256",
            "string",
            "Checksum of the share's manifest",
            nullable=False,
            max_length=64,
            **_UNNAMED,
        ),
        Column("run_id", "string", "The Dagster run that made it", max_length=64, **_UNNAMED),
    ),
)

SHARE_PUPILS = Contract(
    dataset="share_pupils",
    description="Which held pupils were in a share; removed when the pupil is un-named.",
    scope=None,
    key=("share_id", "pupil_key"),
    columns=(
        Column("share_id", "int", "The share", nullable=False, **_UNNAMED),
        Column(
            "pupil_key", "string", "Internal pupil key", nullable=False, max_length=64, pii=PiiClass.QUASI
        ),
    ),
)
