import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mis_pipeline.warehouse.engine import get_engine, migrate
from mis_pipeline.warehouse.schema import metadata

TABLES = {
    "mis_schema_version",
    "pupils",
    "quarantine",
    "schools",
    "sync_log",
    "sync_state",
    "pupil_details",
    "attendance_sessions",
    "assessment_results",
    "pupil_groups",
    "gias_establishments",
    "data_keys",
    "master_keys",
    "vault_secrets",
    "audit_log",
    "change_sets",
    "pupil_changes",
    "unnamed_pupils",
    "retention_schedule",
    "share_log",
    "share_pupils",
}


def test_first_use_migrates_an_empty_database_to_the_newest_schema(warehouse_url):
    engine = get_engine(warehouse_url)
    assert set(sa.inspect(engine).get_table_names()) == TABLES
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM mis_schema_version")).scalar_one() == "0008"


def test_migrating_again_changes_nothing(warehouse_url):
    engine = get_engine(warehouse_url)
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mis_schema_version")).scalar_one() == 1
    assert set(sa.inspect(engine).get_table_names()) == TABLES


def test_the_migrations_build_exactly_the_tables_the_code_declares(warehouse_url):
    engine = get_engine(warehouse_url)
    with engine.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": "mis_schema_version"}), metadata
        )
    assert differences == []
