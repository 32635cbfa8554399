"""School settings (agreement, subscription) and change sets.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("agreement_accepted_on", sa.Date))
        batch.add_column(sa.Column("agreement_version", sa.String(32)))
        batch.add_column(sa.Column("subscription_end", sa.Date))
    op.create_table(
        "change_sets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("school_urn", sa.String(8), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("applied_at", TZ),
        sa.Column("counts", sa.Text, nullable=False),
    )
    op.create_index("ix_change_sets_school", "change_sets", ["school_urn", "created_at"])
    op.create_table(
        "pupil_changes",
        sa.Column("change_set_id", sa.Integer, nullable=False),
        sa.Column("pupil_key", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
    )
    op.create_index("ix_pupil_changes_change_set", "pupil_changes", ["change_set_id"])


def downgrade() -> None:
    op.drop_table("pupil_changes")
    op.drop_table("change_sets")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("subscription_end")
        batch.drop_column("agreement_version")
        batch.drop_column("agreement_accepted_on")
