"""Retention: when a pupil's leaving date was first held, a school's explicit final year group, and
the un-named records purges leave behind.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        batch.add_column(sa.Column("left_informed_at", TZ))
    # Leaving dates already held were first held no later than now: the trigger counts from here.
    op.execute(
        sa.text("UPDATE pupils SET left_informed_at = CURRENT_TIMESTAMP WHERE leaving_date IS NOT NULL")
    )
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("final_year_group", sa.Integer))
    op.create_index("ix_pupil_changes_pupil_key", "pupil_changes", ["pupil_key"])
    op.create_table(
        "unnamed_pupils",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("academic_year", sa.String(7)),
        sa.Column("nc_year", sa.String(2)),
        sa.Column("sex", sa.String(1)),
        sa.Column("sen_status", sa.String(1)),
        sa.Column("fsm_eligible", sa.Boolean),
        sa.Column("pupil_premium", sa.Boolean),
        sa.Column("eal", sa.Boolean),
        sa.Column("attendance", sa.Text, nullable=False),
        sa.Column("results", sa.Text, nullable=False),
        sa.Column("rule", sa.String(24), nullable=False),
        sa.Column("unnamed_on", sa.Date, nullable=False),
    )
    op.create_index("ix_unnamed_pupils_school", "unnamed_pupils", ["school_urn", "unnamed_on"])
    op.create_table(
        "retention_schedule",
        sa.Column("pupil_key", sa.String(64), nullable=False),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(24)),
        sa.Column("trigger_on", sa.Date),
        sa.Column("due_on", sa.Date),
        sa.Column("computed_on", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("pupil_key", name="pk_retention_schedule"),
    )
    op.create_index("ix_retention_schedule_due", "retention_schedule", ["due_on"])


def downgrade() -> None:
    op.drop_table("retention_schedule")
    op.drop_table("unnamed_pupils")
    op.drop_index("ix_pupil_changes_pupil_key", "pupil_changes")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("final_year_group")
    with op.batch_alter_table("pupils") as batch:
        batch.drop_column("left_informed_at")
