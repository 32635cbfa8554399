"""Pupil-linked tables come from the schema; the check `no_unlinked_pupil_rows` counts, per table,
rows whose pupil we hold neither named nor in quarantine, changes nothing, names no key, and runs
on its own (as from the UI) without the purge."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import pytest
import sqlalchemy as sa

from mis_pipeline.retention.assets import UNLINKED_CHECK, unlinked_after_purge
from mis_pipeline.retention.subjects import unlinked_counts
from mis_pipeline.warehouse.resource import WarehouseResource
from mis_pipeline.warehouse.schema import data_keys, pupil_links, pupils, quarantine
from mis_pipeline_tests.retention.support import add_named, add_quarantined, add_school

sqlite = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
DAY = date(2027, 1, 4)


def test_every_table_holding_a_pupil_key_is_pupil_linked():
    assert sorted(pupil_links()) == [
        "assessment_results",
        "attendance_sessions",
        "data_keys",
        "pupil_changes",
        "pupil_details",
        "pupil_groups",
        "pupils",
        "quarantine",
        "retention_schedule",
        "share_pupils",
    ]


def orphaned(engine) -> None:
    """A named pupil, a quarantined one, and one whose core record went: only their other rows remain."""
    with engine.begin() as conn:
        add_school(conn, "100001")
        add_named(conn, "named", "100001", DAY)
        add_quarantined(conn, "held-back", "100001", DAY)
        add_named(conn, "gone", "100001", DAY)
        conn.execute(sa.delete(pupils).where(pupils.c.pupil_key == "gone"))
        conn.execute(
            sa.insert(data_keys).values(
                key_ref="school:100001",
                school_urn="100001",
                master_key_id="k",
                wrapped=b"w",
                created_at=sa.func.now(),
            )
        )


@sqlite
def test_the_check_counts_per_table_the_rows_of_pupils_held_neither_named_nor_in_quarantine(engine):
    orphaned(engine)
    with engine.connect() as conn:
        first, second = unlinked_counts(conn), unlinked_counts(conn)
    assert (
        first
        == second
        == {
            "assessment_results": 0,
            "attendance_sessions": 1,
            "data_keys": 1,
            "pupil_changes": 1,
            "pupil_details": 0,
            "pupil_groups": 0,
            "retention_schedule": 0,
            "share_pupils": 0,
        }
    )


@sqlite
def test_the_check_runs_alone_fails_with_error_severity_and_names_tables_and_counts_never_keys(
    engine, mis_env
):
    orphaned(engine)
    job = dg.Definitions(
        asset_checks=[unlinked_after_purge],
        resources={"warehouse": WarehouseResource()},
        jobs=[dg.define_asset_job("check_only", selection=dg.AssetSelection.checks(unlinked_after_purge))],
    ).resolve_job_def("check_only")
    result = job.execute_in_process(raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == UNLINKED_CHECK and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["unlinked_rows"] == 3
    assert metadata["by_table"] == {"attendance_sessions": 1, "data_keys": 1, "pupil_changes": 1}
    assert "gone" not in json.dumps(metadata)
    with engine.connect() as conn:  # it acted on nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(data_keys)).scalar_one() == 4
        assert conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar_one() == 1
