"""Encryption at rest, keyed pupil keys, withheld items and the audit log.

Pupils' direct identifiers move into one sealed column (AES-256-GCM under a per-pupil data key,
wrapped by the master key); quarantine payloads are sealed the same way; pupil keys become keyed
HMACs. Rows held before this revision were keyed and stored differently and cannot be carried
across without the keys, so pupil data, quarantine and cursors are emptied: the next sync of
every school is a full read from its connector, which re-fetches exactly what it authorises.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
_ITEM_TABLES = ("pupil_details", "attendance_sessions", "assessment_results", "pupil_groups")


def _create_pupils() -> None:
    op.create_table(
        "pupils",
        sa.Column("pupil_key", sa.String(64), nullable=False),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("connector", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(1)),
        sa.Column("nc_year", sa.String(2)),
        sa.Column("admission_date", sa.Date),
        sa.Column("leaving_date", sa.Date),
        sa.Column("source_updated_at", TZ, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("row_hash", sa.String(32), nullable=False),
        sa.Column("first_synced_at", TZ, nullable=False),
        sa.Column("last_changed_at", TZ, nullable=False),
        sa.Column("last_run_id", sa.String(64)),
        sa.Column("deleted_at", TZ),
        sa.PrimaryKeyConstraint("pupil_key", name="pk_pupils"),
    )
    op.create_index("ix_pupils_school_urn", "pupils", ["school_urn"])


def _create_quarantine() -> None:
    op.create_table(
        "quarantine",
        sa.Column("school_urn", sa.String(8), primary_key=True),
        sa.Column("dataset", sa.String(40), primary_key=True),
        sa.Column("record_ref", sa.String(64), primary_key=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("key_ref", sa.String(64), nullable=False),
        sa.Column("sealed_payload", sa.LargeBinary, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("quarantined_at", TZ, nullable=False),
    )


def upgrade() -> None:
    op.drop_table("pupils")
    _create_pupils()
    op.drop_table("quarantine")
    _create_quarantine()
    for name in _ITEM_TABLES:
        op.execute(sa.text(f"DELETE FROM {name}"))
    op.execute(sa.text("DELETE FROM sync_state"))
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("withheld_items", sa.Text, nullable=False, server_default="[]"))
    op.create_table(
        "data_keys",
        sa.Column("key_ref", sa.String(64), primary_key=True),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_data_keys_master_key_id", "data_keys", ["master_key_id"])
    op.create_index("ix_data_keys_school_urn", "data_keys", ["school_urn"])
    op.create_table(
        "master_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("first_used_at", TZ, nullable=False),
        sa.Column("retired_at", TZ),
    )
    op.create_table(
        "vault_secrets",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("school_urn", sa.String(8)),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64)),
    )
    op.create_index("ix_audit_log_school", "audit_log", ["school_urn", "occurred_at"])


def downgrade() -> None:
    raise NotImplementedError(
        "encryption at rest cannot be undone: restore a backup taken before revision 0003"
    )
