"""Partner shares: per-school sharing switches, the share log, and which pupils each share held.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("sharing_off", sa.Text, nullable=False, server_default="[]"))
    op.create_table(
        "share_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partner", sa.String(24), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schools", sa.Text, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64)),
    )
    op.create_index("ix_share_log_partner", "share_log", ["partner", "made_at"])
    op.create_table(
        "share_pupils",
        sa.Column("share_id", sa.Integer, nullable=False),
        sa.Column("pupil_key", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("share_id", "pupil_key", name="pk_share_pupils"),
    )
    op.create_index("ix_share_pupils_pupil_key", "share_pupils", ["pupil_key"])


def downgrade() -> None:
    op.drop_table("share_pupils")
    op.drop_table("share_log")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("sharing_off")
