"""The warehouse tables (SQLAlchemy Core). Alembic migrations create them; tests check they agree."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from data_contracts import (
    ASSESSMENT_RESULTS,
    ATTENDANCE_SESSIONS,
    AUDIT_LOG,
    CHANGE_SETS,
    PUPIL_CHANGES,
    PUPIL_DETAILS,
    PUPIL_GROUPS,
    PUPILS,
    RETENTION_SCHEDULE,
    SHARE_LOG,
    SHARE_PUPILS,
    UNNAMED_PUPILS,
    Contract,
    PiiClass,
)

metadata = MetaData()

schools = Table(
    "schools",
    metadata,
    Column("urn", String(8), primary_key=True),
    Column("connector", String(16), nullable=False),
    Column("connector_school_id", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("la_code", String(3)),
    Column("establishment_number", String(4)),
    Column("phase", String(40)),
    Column("approval_state", String(16), nullable=False),  # approved | not_listed
    Column("granted_items", Text, nullable=False, server_default="[]"),  # JSON list of scopes
    Column("sync_mode", String(16), nullable=False, server_default="automatic"),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("withheld_items", Text, nullable=False, server_default="[]"),  # JSON list the school withholds
    Column("agreement_accepted_on", Date),  # the data sharing agreement (and its retention periods)
    Column("agreement_version", String(32)),
    Column("subscription_end", Date),  # collection stops after it, and the retention clock starts
    Column("access_ended_on", Date),  # the connector stopped granting us the school: a retention trigger
    Column("agreement_withdrawn_on", Date),  # the school withdrew from the agreement: a retention trigger
    Column("final_year_group", Integer),  # the school's last NC year, when GIAS's statutory ages do not say
    Column(
        "sharing_off", Text, nullable=False, server_default="[]"
    ),  # JSON list of partner kinds switched off
    # JSON list of permissions approved at the connector that map to no data item
    Column("unrecognised_permissions", Text, nullable=False, server_default="[]"),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("connector", "connector_school_id", name="uq_schools_connector_id"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("school_urn", String(8), primary_key=True),
    Column("dataset", String(40), primary_key=True),
    Column("cursor", Text),
    Column("last_sync_at", DateTime(timezone=True)),
    Column("last_full_sync_at", DateTime(timezone=True)),
    Column("last_run_id", String(64)),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("school_urn", String(8), primary_key=True),
    Column("dataset", String(40), primary_key=True),
    Column("record_ref", String(64), primary_key=True),  # a keyed digest of the record's identity
    Column("rule", Text, nullable=False),  # "column: check"; never a value
    Column("key_ref", String(64), nullable=False),  # the data key sealing the payload (the pupil's, if known)
    Column("sealed_payload", LargeBinary, nullable=False),  # the record as received, sealed
    Column("run_id", String(64)),
    Column("quarantined_at", DateTime(timezone=True), nullable=False),
    Index("ix_quarantine_key_ref", "key_ref"),  # a pupil's quarantined records, for retention
)

sync_log = Table(
    "sync_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64)),
    Column("school_urn", String(8), nullable=False),
    Column("dataset", String(40), nullable=False),
    Column("mode", String(16), nullable=False),  # full | incremental
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("fetched", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Index("ix_sync_log_school", "school_urn", "dataset"),
)


gias_establishments = Table(
    "gias_establishments",
    metadata,
    Column("urn", String(8), primary_key=True),
    Column("la_code", String(3), nullable=False),
    Column("la_name", Text),
    Column("establishment_number", String(4)),
    Column("name", Text, nullable=False),
    Column("status", Text),
    Column("phase_code", String(2)),
    Column("phase_name", Text),
    Column("statutory_low_age", Integer),
    Column("statutory_high_age", Integer),
    Column("trust_uid", String(8)),
    Column("trust_name", Text),
    Column("diocese_code", String(8)),
    Column("diocese_name", Text),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Index("ix_gias_la_estab", "la_code", "establishment_number"),
)

# ── encryption keys ───────────────────────────────────────────────────────────────────────────
data_keys = Table(
    "data_keys",
    metadata,
    Column(
        "key_ref", String(64), primary_key=True
    ),  # a pupil key, or "school:URN" for unattributable records
    Column("school_urn", String(8), nullable=False),
    Column("master_key_id", String(16), nullable=False),  # which master key wraps it (a fingerprint)
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_data_keys_master_key_id", "master_key_id"),
    Index("ix_data_keys_school_urn", "school_urn"),
)

master_keys = Table(
    "master_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("first_used_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),  # every data key re-wrapped under a newer key
)

vault_secrets = Table(
    "vault_secrets",
    metadata,
    Column("name", String(40), primary_key=True),  # "pseudonym": the key of pupil keys and row digests
    Column("master_key_id", String(16), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_SQL_TYPES = {
    "string": lambda c: String(c.max_length) if c.max_length else Text(),
    "date": lambda c: Date(),
    "datetime": lambda c: DateTime(timezone=True),
    "bool": lambda c: Boolean(),
    "int": lambda c: Integer(),
}


def dataset_table(contract: Contract, *extra: Column) -> Table:
    """A consent-scoped dataset's table, built from its contract plus the sync's bookkeeping.

    Direct identifiers have no column of their own: they live together in `sealed`, encrypted
    under the pupil's data key; every other column is stored as itself.
    """
    sealed = (
        [Column("sealed", LargeBinary, nullable=False)] if contract.columns_with_pii(PiiClass.DIRECT) else []
    )
    return Table(
        contract.dataset,
        metadata,
        *(
            Column(c.name, _SQL_TYPES[c.dtype](c), nullable=c.nullable)
            for c in contract.columns
            if c.pii is not PiiClass.DIRECT
        ),
        *sealed,
        Column("row_hash", String(32), nullable=False),
        Column("first_synced_at", DateTime(timezone=True), nullable=False),
        Column("last_changed_at", DateTime(timezone=True), nullable=False),
        Column("last_run_id", String(64)),
        PrimaryKeyConstraint(*contract.key, name=f"pk_{contract.dataset}"),
        Index(f"ix_{contract.dataset}_school_urn", "school_urn"),
        *extra,
    )


def _record_table(contract: Contract, *extra) -> Table:
    """An operational table (audit, change sets) from its contract; an `id` key is a serial."""
    columns = [
        Column("id", Integer, primary_key=True, autoincrement=True)
        if c.name == "id"
        else Column(c.name, _SQL_TYPES[c.dtype](c), nullable=c.nullable)
        for c in contract.columns
    ]
    return Table(contract.dataset, metadata, *columns, *extra)


# built from their contracts, like the datasets
audit_log = _record_table(AUDIT_LOG, Index("ix_audit_log_school", "school_urn", "occurred_at"))
change_sets = _record_table(CHANGE_SETS, Index("ix_change_sets_school", "school_urn", "created_at"))
pupil_changes = _record_table(
    PUPIL_CHANGES,
    Index("ix_pupil_changes_change_set", "change_set_id"),
    Index("ix_pupil_changes_pupil_key", "pupil_key"),
)
unnamed_pupils = _record_table(UNNAMED_PUPILS, Index("ix_unnamed_pupils_school", "school_urn", "unnamed_on"))
share_log = _record_table(SHARE_LOG, Index("ix_share_log_partner", "partner", "made_at"))
share_pupils = _record_table(
    SHARE_PUPILS,
    PrimaryKeyConstraint("share_id", "pupil_key", name="pk_share_pupils"),
    Index("ix_share_pupils_pupil_key", "pupil_key"),
)
retention_schedule = _record_table(
    RETENTION_SCHEDULE,
    PrimaryKeyConstraint("pupil_key", name="pk_retention_schedule"),
    Index("ix_retention_schedule_due", "due_on"),
)

# removed at the connector: a retention trigger (the purge removes the named data on time)
pupils = dataset_table(
    PUPILS,
    Column("deleted_at", DateTime(timezone=True)),
    # the day we first held the pupil's leaving date: the "informed" retention trigger
    Column("left_informed_at", DateTime(timezone=True)),
    # the daily retention job reads only leavers, deletions and final-year pupils
    Index("ix_pupils_deleted_at", "deleted_at"),
    Index("ix_pupils_leaving_date", "leaving_date"),
    Index("ix_pupils_school_nc_year", "school_urn", "nc_year"),
)


DATASET_TABLES = {
    c.dataset: dataset_table(c)
    for c in (PUPIL_DETAILS, ATTENDANCE_SESSIONS, ASSESSMENT_RESULTS, PUPIL_GROUPS)
}


# Pupil-linked tables: every table with a column that holds a pupil key. `key_ref` holds one too
# (data keys and quarantine), except the school keys `school:URN` of records that name no pupil.
PUPIL_LINK_COLUMNS = ("pupil_key", "key_ref")


def pupil_links() -> dict[str, Column]:
    """Every pupil-linked table and its linking column, read from the schema itself, so a table
    added later is covered by retention and its check without anyone keeping a list."""
    return {
        table.name: table.c[name]
        for table in metadata.sorted_tables
        for name in PUPIL_LINK_COLUMNS
        if name in table.c
    }
