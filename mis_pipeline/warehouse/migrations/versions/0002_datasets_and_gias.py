"""Consent-scoped datasets (details, attendance, assessments, groups), GIAS reference data and
pupil deletions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _bookkeeping():
    return [
        sa.Column("row_hash", sa.String(32), nullable=False),
        sa.Column("first_synced_at", TZ, nullable=False),
        sa.Column("last_changed_at", TZ, nullable=False),
        sa.Column("last_run_id", sa.String(64)),
    ]


def _dataset(name: str, key: list[str], *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("pupil_key", sa.String(64), nullable=False),
        sa.Column("school_urn", sa.String(8), nullable=False),
        *columns,
        sa.Column("source_updated_at", TZ, nullable=False),
        *_bookkeeping(),
        sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
    )
    op.create_index(f"ix_{name}_school_urn", name, ["school_urn"])


def upgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        batch.add_column(sa.Column("deleted_at", TZ))
    _dataset(
        "pupil_details",
        ["pupil_key"],
        sa.Column("sen_status", sa.String(1)),
        sa.Column("fsm_eligible", sa.Boolean),
        sa.Column("pupil_premium", sa.Boolean),
        sa.Column("eal", sa.Boolean),
        sa.Column("first_language", sa.String(8)),
        sa.Column("ethnicity", sa.String(8)),
        sa.Column("in_care", sa.Boolean),
    )
    _dataset(
        "attendance_sessions",
        ["pupil_key", "session_date", "session"],
        sa.Column("session_date", sa.Date, nullable=False),
        sa.Column("session", sa.String(2), nullable=False),
        sa.Column("mark", sa.String(2), nullable=False),
    )
    _dataset(
        "assessment_results",
        ["pupil_key", "aspect_name", "result_set_name"],
        sa.Column("aspect_name", sa.String(200), nullable=False),
        sa.Column("result_set_name", sa.String(200), nullable=False),
        sa.Column("result", sa.String(100), nullable=False),
        sa.Column("result_date", sa.Date),
    )
    _dataset(
        "pupil_groups",
        ["pupil_key", "group_type", "group_code"],
        sa.Column("group_type", sa.String(16), nullable=False),
        sa.Column("group_code", sa.String(64), nullable=False),
        sa.Column("group_name", sa.String(200)),
    )
    op.create_table(
        "gias_establishments",
        sa.Column("urn", sa.String(8), primary_key=True),
        sa.Column("la_code", sa.String(3), nullable=False),
        sa.Column("la_name", sa.Text),
        sa.Column("establishment_number", sa.String(4)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text),
        sa.Column("phase_code", sa.String(2)),
        sa.Column("phase_name", sa.Text),
        sa.Column("statutory_low_age", sa.Integer),
        sa.Column("statutory_high_age", sa.Integer),
        sa.Column("trust_uid", sa.String(8)),
        sa.Column("trust_name", sa.Text),
        sa.Column("diocese_code", sa.String(8)),
        sa.Column("diocese_name", sa.Text),
        sa.Column("imported_at", TZ, nullable=False),
    )
    op.create_index("ix_gias_la_estab", "gias_establishments", ["la_code", "establishment_number"])


def downgrade() -> None:
    op.drop_table("gias_establishments")
    for name in ("pupil_groups", "assessment_results", "attendance_sessions", "pupil_details"):
        op.drop_table(name)
    with op.batch_alter_table("pupils") as batch:
        batch.drop_column("deleted_at")
