"""The production instance configuration: runs land in PostgreSQL through deploy/dagster.yaml."""

import os
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import run_job
from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB, IMPORT_GIAS_JOB
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.registry.store import list_schools
from mis_pipeline.warehouse.engine import get_engine

ROOT = Path(__file__).resolve().parents[2]


def test_runs_are_recorded_in_the_postgres_instance_and_rows_in_the_postgres_warehouse(
    simulator, population, monkeypatch, tmp_path, postgres_database
):
    url = sa.engine.make_url(postgres_database)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    for name, value in dict(
        DAGSTER_PG_USERNAME=url.username,
        DAGSTER_PG_PASSWORD=url.password or "",
        DAGSTER_PG_HOST=url.host,
        DAGSTER_PG_DB=url.database,
        DAGSTER_PG_PORT=str(url.port or 5432),
    ).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MIS_HOME", str(tmp_path / "mis_home"))
    monkeypatch.setenv("MIS_DATABASE_URL", postgres_database)  # one database holds both here

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        imported = run_job(
            instance,
            IMPORT_GIAS_JOB,
            {"ops": {"gias_establishments": {"config": {"path": os.environ["MIS_TEST_GIAS"]}}}},
        )
        assert imported.success
        assert run_job(instance, DISCOVER_SCHOOLS_JOB).success
        engine = get_engine()
        apply_settings(
            engine,
            [school.urn for school in list_schools(engine)],
            SettingsChange(agreement_accepted_on=date(2026, 9, 1)),
            actor="test set-up",
        )
        summary = run_sync(instance)
        assert summary.success, summary.failure_reason

    engine = sa.create_engine(postgres_database)
    with engine.connect() as conn:
        run_ids = set(conn.execute(sa.text("SELECT run_id FROM runs")).scalars())
        held = conn.execute(sa.text("SELECT count(*) FROM pupils")).scalar_one()
    engine.dispose()
    assert set(summary.run_ids) <= run_ids
    assert held == sum(len(s.pupils) for s in population.approved_schools())
