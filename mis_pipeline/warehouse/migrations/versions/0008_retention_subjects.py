"""Retention covers every pupil-linked row: the day a school's connector stopped granting us access
and the day a school withdrew from the data sharing agreement (both retention triggers), and the
indexes that let the daily retention job read only what is due
(leavers, deletions, a school's final-year pupils) and find a pupil's quarantined records.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("access_ended_on", sa.Date))
        batch.add_column(sa.Column("agreement_withdrawn_on", sa.Date))
    # Schools already no longer listed lost access no later than today: their clock starts now.
    op.execute(
        sa.text("UPDATE schools SET access_ended_on = CURRENT_DATE WHERE approval_state <> 'approved'")
    )
    op.create_index("ix_pupils_deleted_at", "pupils", ["deleted_at"])
    op.create_index("ix_pupils_leaving_date", "pupils", ["leaving_date"])
    op.create_index("ix_pupils_school_nc_year", "pupils", ["school_urn", "nc_year"])
    op.create_index("ix_quarantine_key_ref", "quarantine", ["key_ref"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_key_ref", "quarantine")
    op.drop_index("ix_pupils_school_nc_year", "pupils")
    op.drop_index("ix_pupils_leaving_date", "pupils")
    op.drop_index("ix_pupils_deleted_at", "pupils")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("agreement_withdrawn_on")
        batch.drop_column("access_ended_on")
