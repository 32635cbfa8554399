"""What the Dagster UI says about a school is that school's truth: each school partition's events
carry its own figures (equal to `status`), a manual school's pending changes are never a
materialisation, an item a school withholds is never shown as materialised for it, and every asset
check can be executed alone (as the UI's Execute does) without contacting a connector or changing
a row."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import run_job
from mis_pipeline.cli.status import school_status
from mis_pipeline.registry.run_tags import (
    OPERATOR_TAG,
    RANGE_END,
    RANGE_START,
    SCHOOL_COUNT_TAG,
    SCHOOL_NAMES_TAG,
    SCHOOL_RANGE_TAG,
    TRIGGER_TAG,
)
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.registry.store import list_schools
from mis_pipeline.sync.assets import TABLE_ASSETS
from mis_pipeline.sync.checks import NO_QUARANTINE_CHECK
from mis_pipeline.sync.jobs import SYNC_SCHOOLS_JOB
from mis_pipeline.sync.metadata import PENDING, TABLE_FIGURES
from mis_pipeline.warehouse.schema import metadata as warehouse_metadata

SYNC_ASSETS = ("connector_extract", "pupil_change_set", *TABLE_ASSETS)


def latest_materialisation(instance, asset: str, urn: str) -> dict | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[urn]), limit=1
    ).records
    if not records:
        return None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def observations(instance, asset: str, urn: str) -> list[dict]:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[urn]), limit=10
    ).records
    return [{k: v.value for k, v in r.asset_observation.metadata.items()} for r in records]


@pytest.fixture
def two_schools(simulator, population, registry, instance, engine):
    """Two neighbouring school partitions: the first automatic and withholding attendance, the
    second manual."""
    automatic, manual = instance.get_dynamic_partitions("schools")[:2]
    apply_settings(engine, [automatic], SettingsChange(withhold=["attendance"]), actor="test set-up")
    apply_settings(engine, [manual], SettingsChange(sync_mode="manual"), actor="test set-up")
    return automatic, manual


def test_each_school_partition_carries_its_own_figures_and_a_manual_schools_pending_set_is_not_materialised(
    population, two_schools, instance, engine
):
    automatic, manual = two_schools
    served = {school.urn: len(school.pupils) for school in population.schools}
    # The launchpad's default config, as "Materialize" in the UI would run it.
    result = run_job(
        instance, SYNC_SCHOOLS_JOB, tags={RANGE_START: automatic, RANGE_END: manual}, trigger="ui"
    )
    assert result.success
    status = {entry["urn"]: entry for entry in school_status(engine)}

    held = status[automatic]["counts"]
    assert "attendance" in status[automatic]["granted"]  # granted at the connector, withheld by the school
    assert held["pupils"] == served[automatic] and held["attendance_sessions"] == 0
    granted = [d for d in TABLE_ASSETS if d != "attendance_sessions" and held[d] > 0]
    assert "pupils" in granted
    for dataset in granted:
        figures = latest_materialisation(instance, dataset, automatic)
        assert figures is not None, dataset
        assert (figures["held"], figures["dagster/row_count"], figures["inserted"]) == (held[dataset],) * 3, (
            dataset
        )
        assert (figures["updated"], figures["deleted"], figures["quarantined"]) == (0, 0, 0), dataset
        assert set(TABLE_FIGURES) <= set(figures)
        assert figures["school"] == status[automatic]["name"]
    assert latest_materialisation(instance, "attendance_sessions", automatic) is None  # withheld: never shown

    assert status[manual]["counts"]["pupils"] == 0  # its changes wait for a person
    assert [latest_materialisation(instance, asset, manual) for asset in SYNC_ASSETS[1:]] == [None] * len(
        TABLE_ASSETS + ("pupil_change_set",)
    )
    [pending] = observations(instance, "pupil_change_set", manual)
    assert (pending["status"], pending["pupils_new"]) == (PENDING, served[manual])
    assert pending["pupils_new"] == status[manual]["counts"]["pending_changes"]


def test_a_sync_run_says_who_started_it_why_and_which_schools_it_covers(
    two_schools, instance, engine, monkeypatch
):
    automatic, manual = two_schools
    monkeypatch.setenv("MIS_OPERATOR", "a.person")
    summary = run_sync(instance, [automatic, manual])
    assert summary.success, summary.failure_reason
    runs = [instance.get_run_by_id(run_id) for run_id in summary.run_ids]
    [sync_run] = [run for run in runs if run.job_name == SYNC_SCHOOLS_JOB]  # discovery may have run before it
    names = {school.urn: school.name for school in list_schools(engine)}
    assert {
        k: sync_run.tags.get(k)
        for k in (TRIGGER_TAG, OPERATOR_TAG, SCHOOL_COUNT_TAG, SCHOOL_RANGE_TAG, SCHOOL_NAMES_TAG)
    } == {
        TRIGGER_TAG: "cli:sync",
        OPERATOR_TAG: "a.person",
        SCHOOL_COUNT_TAG: "2",
        SCHOOL_RANGE_TAG: f"{automatic}..{manual}",
        SCHOOL_NAMES_TAG: f"{automatic} {names[automatic]}; {manual} {names[manual]}",
    }
    # A person asked for the manual school by name: its changes landed, as a materialisation.
    assert latest_materialisation(instance, "pupil_change_set", manual)["status"] == "applied"


def _row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in warehouse_metadata.tables.items()
        }


def test_every_asset_check_executed_alone_contacts_no_connector_and_changes_no_row(
    simulator, two_schools, instance, engine
):
    from mis_pipeline.definitions import defs

    automatic, _ = two_schools
    assert run_sync(instance).success
    before = _row_counts(engine)
    simulator.clear_request_log()
    global_job = defs.resolve_implicit_global_asset_job_def()
    check_keys = list(defs.resolve_asset_graph().asset_check_keys)
    # the contract check per table, the two retention checks, the unlinked-rows check after sync and after purge,
    # and the registry's permissions check
    assert len(check_keys) == len(TABLE_ASSETS) + 2 + 2 + 1
    for key in check_keys:
        partitioned = key.asset_key in {dg.AssetKey(t) for t in TABLE_ASSETS}
        per_school = (
            partitioned and key.name == NO_QUARANTINE_CHECK
        )  # the unlinked-rows check is warehouse-wide
        # What the UI's "Execute" launches (the global asset job, that one check, no asset); for a
        # partitioned check the UI offers the `check_school_data` launchpad, which runs the same step.
        job = global_job.get_subset(asset_selection=set(), asset_check_selection={key})
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={"dagster/partition": automatic} if partitioned else {},
        )
        assert result.success, key
        [evaluation] = result.get_asset_check_evaluations()
        assert (evaluation.asset_check_key, evaluation.passed) == (key, True)
        assert evaluation.partition == (automatic if per_school else None)
    assert simulator.request_log == []
    assert _row_counts(engine) == before


# ── what the UI shows before anything runs ───────────────────────────────────────────────────
def _config_fields(config_type) -> set[str]:
    return set(getattr(config_type, "fields", {}))


def test_the_launchpad_holds_manual_schools_changes_by_default_and_offers_no_warehouse_secret():
    from mis_pipeline.definitions import defs

    schema = defs.resolve_job_def(SYNC_SCHOOLS_JOB).run_config_schema.config_type
    op_config = schema.fields["ops"].config_type.fields["sync_school_data"].config_type.fields["config"]
    assert op_config.config_type.fields["manual_schools"].default_value == "preview"
    warehouse = schema.fields["resources"].config_type.fields["warehouse"].config_type
    assert _config_fields(warehouse.fields["config"].config_type) == set()  # no database URL, no master key


def test_lineage_shows_who_decides_recipients_what_the_purge_touches_and_where_the_records_go():
    from mis_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = {
        key: {p.to_user_string() for p in graph.get(dg.AssetKey(key)).parent_keys}
        for key in ("partner_shares", "named_data_purge", "unnamed_pupil_records", "unnamed_data_purge")
    }
    assert parents["partner_shares"] == {"school_registry", "gias_establishments", *TABLE_ASSETS}
    assert parents["named_data_purge"] == {"retention_eligible_records", *TABLE_ASSETS}
    assert parents["unnamed_pupil_records"] == {"named_data_purge"}
    assert parents["unnamed_data_purge"] == {"named_data_purge", "unnamed_pupil_records", "pupil_change_set"}
    assert {"pupil_change_set", "named_data_purge", "partner_shares"} <= {
        p.to_user_string() for p in graph.get(dg.AssetKey("audit_log")).parent_keys
    }


def test_each_table_shows_its_contracts_columns_and_the_sync_must_be_fresh_within_26_hours():
    from data_contracts import CONTRACTS
    from mis_pipeline.definitions import defs

    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for dataset in TABLE_ASSETS:
        schema = specs[dataset].metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == [c.name for c in CONTRACTS[dataset].columns]
        assert specs[dataset].metadata["dagster/table_name"] == dataset
    assert specs["connector_extract"].freshness_policy.fail_window.to_timedelta().total_seconds() == 26 * 3600


def test_the_retention_schedules_runs_say_they_were_started_by_it():
    from mis_pipeline.definitions import defs

    schedule = defs.resolve_schedule_def("daily_retention_purge")
    [request] = schedule.evaluate_tick(dg.build_schedule_context()).run_requests
    assert request.tags[TRIGGER_TAG] == "daily_retention_purge"
    for job in ("sync_schools", "purge_retention", "share_with_partners"):  # a launchpad run says so
        assert defs.resolve_job_def(job).tags[TRIGGER_TAG] == "ui"


def test_a_sync_launched_from_the_ui_is_followed_by_each_of_its_schools_own_check_result(
    two_schools, instance
):
    from mis_pipeline.definitions import defs
    from mis_pipeline.sync.check_sensors import check_after_sync
    from mis_pipeline.sync.checks import CHECK_JOB, NO_QUARANTINE_CHECK

    automatic, manual = two_schools
    sync_run = run_job(
        instance, SYNC_SCHOOLS_JOB, tags={RANGE_START: automatic, RANGE_END: manual}, trigger="ui"
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=check_after_sync.name,
        dagster_instance=instance,
        dagster_run=sync_run.dagster_run,
        dagster_event=sync_run.get_run_success_event(),
        repository_def=defs.get_repository_def(),
    )
    request = check_after_sync(context)
    checks = run_job(instance, CHECK_JOB, tags=request.tags, trigger=request.tags[TRIGGER_TAG])
    evaluated = {
        (e.asset_key.to_user_string(), e.partition)
        for e in checks.get_asset_check_evaluations()
        if e.check_name == NO_QUARANTINE_CHECK
    }
    assert evaluated == {(table, urn) for table in TABLE_ASSETS for urn in (automatic, manual)}
