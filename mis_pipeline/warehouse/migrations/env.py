"""Alembic environment: always run with a connection handed in by `warehouse.migrate`."""

from alembic import context

from mis_pipeline.warehouse.schema import metadata

VERSION_TABLE = "mis_schema_version"  # not alembic_version: Dagster's own Postgres storage uses that

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, version_table=VERSION_TABLE
)
with context.begin_transaction():
    context.run_migrations()
