"""Foundation: schools, sync state, core pupil records, quarantine and the sync log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("urn", sa.String(8), primary_key=True),
        sa.Column("connector", sa.String(16), nullable=False),
        sa.Column("connector_school_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("la_code", sa.String(3)),
        sa.Column("establishment_number", sa.String(4)),
        sa.Column("phase", sa.String(40)),
        sa.Column("approval_state", sa.String(16), nullable=False),
        sa.Column("granted_items", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sync_mode", sa.String(16), nullable=False, server_default="automatic"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("connector", "connector_school_id", name="uq_schools_connector_id"),
    )
    op.create_table(
        "sync_state",
        sa.Column("school_urn", sa.String(8), primary_key=True),
        sa.Column("dataset", sa.String(40), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("last_sync_at", TZ),
        sa.Column("last_full_sync_at", TZ),
        sa.Column("last_run_id", sa.String(64)),
    )
    op.create_table(
        "pupils",
        sa.Column("pupil_key", sa.String(64), primary_key=True),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("connector", sa.String(16), nullable=False),
        sa.Column("connector_pupil_id", sa.String(64), nullable=False),
        sa.Column("upi", sa.String(64), nullable=False),
        sa.Column("mis_id", sa.String(64), nullable=False),
        sa.Column("upn", sa.String(13), nullable=False),
        sa.Column("former_upn", sa.String(13)),
        sa.Column("legal_forename", sa.String(100), nullable=False),
        sa.Column("legal_surname", sa.String(100), nullable=False),
        sa.Column("forename", sa.String(100)),
        sa.Column("surname", sa.String(100)),
        sa.Column("middle_names", sa.String(100)),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("sex", sa.String(1)),
        sa.Column("nc_year", sa.String(2)),
        sa.Column("admission_date", sa.Date),
        sa.Column("leaving_date", sa.Date),
        sa.Column("source_updated_at", TZ, nullable=False),
        sa.Column("row_hash", sa.String(32), nullable=False),
        sa.Column("first_synced_at", TZ, nullable=False),
        sa.Column("last_changed_at", TZ, nullable=False),
        sa.Column("last_run_id", sa.String(64)),
    )
    op.create_index("ix_pupils_school_urn", "pupils", ["school_urn"])
    op.create_table(
        "quarantine",
        sa.Column("school_urn", sa.String(8), primary_key=True),
        sa.Column("dataset", sa.String(40), primary_key=True),
        sa.Column("record_ref", sa.String(64), primary_key=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("quarantined_at", TZ, nullable=False),
    )
    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("dataset", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.Column("fetched", sa.Integer, nullable=False),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("quarantined", sa.Integer, nullable=False),
    )
    op.create_index("ix_sync_log_school", "sync_log", ["school_urn", "dataset"])


def downgrade() -> None:
    for table in ("sync_log", "quarantine", "pupils", "sync_state", "schools"):
        op.drop_table(table)
