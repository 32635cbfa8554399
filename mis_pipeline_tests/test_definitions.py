import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from mis_pipeline.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_the_code_location_loads_with_its_jobs_and_assets():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("discover_schools") and defs.resolve_job_def("sync_schools")
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"school_registry", "connector_extract", "pupils"} <= keys


def test_every_asset_is_documented_grouped_and_owned():
    for spec in defs.resolve_all_asset_specs():
        assert spec.description and spec.group_name and spec.owners and spec.kinds, spec.key


def test_pupils_lineage_runs_from_the_registry_through_the_extract_and_the_change_set():
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("pupils")).parent_keys == {dg.AssetKey("pupil_change_set")}
    assert graph.get(dg.AssetKey("pupil_change_set")).parent_keys == {dg.AssetKey("connector_extract")}
    assert graph.get(dg.AssetKey("connector_extract")).parent_keys == {dg.AssetKey("school_registry")}


def _validate(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_dagster_validates_the_workspace_on_an_embedded_instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = _validate({**os.environ, "DAGSTER_HOME": str(home)})
    assert result.returncode == 0, result.stderr[-2000:]


def test_dagster_validates_the_workspace_in_a_fresh_clone_with_nothing_set():
    """No DAGSTER_HOME, no DAGSTER_PG_*: Dagster reads the repository's dagster.yaml, the embedded default."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("DAGSTER_PG_")}
    result = _validate(env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_dagster_validates_the_workspace_with_the_production_postgres_instance_config(
    postgres_database, tmp_path
):
    url = sa.engine.make_url(postgres_database)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.update(
        DAGSTER_PG_USERNAME=url.username,
        DAGSTER_PG_PASSWORD=url.password or "",
        DAGSTER_PG_HOST=url.host,
        DAGSTER_PG_DB=url.database,
        DAGSTER_PG_PORT=str(url.port or 5432),
    )
    result = _validate(env)
    assert result.returncode == 0, result.stderr[-2000:]
