"""Schools: the permissions approved at the connector that the product cannot map to a data item
(reported as "granted but not understood").

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("unrecognised_permissions", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("unrecognised_permissions")
