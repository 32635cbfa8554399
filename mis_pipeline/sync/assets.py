"""Per-school sync: the connector extract and every consent-scoped table, one school per partition."""

from datetime import timedelta

import dagster as dg

from data_contracts import CONTRACTS, Contract, PiiClass
from mis_pipeline.config import MissingMasterKeyError
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.lib.crypto import KeyringError
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.run_tags import run_actor, school_tags
from mis_pipeline.registry.store import list_schools
from mis_pipeline.sync.metadata import (
    outcome_summary,
    school_change_set_metadata,
    school_extract_metadata,
    school_pending_metadata,
    school_table_metadata,
)
from mis_pipeline.sync.runner import SchoolOutcome, sync_schools
from mis_pipeline.sync.sources import WondeSource, XodSource
from mis_pipeline.warehouse.reader import counts_by_school
from mis_pipeline.warehouse.resource import WarehouseResource
from mis_pipeline.warehouse.schema import DATASET_TABLES
from mis_pipeline.warehouse.schema import pupils as pupils_table

OWNERS = ["team:data-engineering"]
SYNC_OP = "sync_school_data"
CHANGE_SET_ASSET = "pupil_change_set"

_TABLES = {
    "pupils": (
        "The core record of every pupil each school has authorised us to hold: internal key, "
        "connector ids, UPN, legal names, date of birth, sex, NC year, admission and leaving dates."
    ),
    "pupil_details": "Additional pupil details (SEN, FSM, pupil premium, EAL, language, ethnicity, in care).",
    "attendance_sessions": "Session attendance: one DfE-coded mark per pupil per AM/PM session.",
    "assessment_results": "Assessment results: one result per pupil per aspect and result set.",
    "pupil_groups": "Membership of year, registration, house and teaching groups.",
}
TABLE_ASSETS = tuple(_TABLES)
_HOW = (
    " Held only for schools that granted this item. Written idempotently per school, with the "
    "school's cursors, in one transaction; records that break the contract are quarantined "
    "with the rule they broke."
)


class SyncConfig(dg.Config):
    max_workers: int = 4  # schools synced at once within one run
    # "preview" (the default, also automation's): manual schools' changes are only held as a
    # pending change set for a person to review. "apply": a person chose to land them (the CLI's
    # `sync --school URN`, or this field set explicitly in the launchpad).
    manual_schools: str = "preview"
    # Automation covers ranges of schools: one in the range that may not be contacted (paused, no
    # agreement…) is skipped without contact. A run a person asked for fails on it instead.
    skip_blocked: bool = False


# The nightly sync runs at 02:00; a school not synced for 26 hours missed a night.
SYNC_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26))


def contract_metadata(contract: Contract) -> dict:
    """The table's columns as its contract declares them (data_contracts/), and its name in the
    warehouse; names and rules only. Sealed columns are stored encrypted under the same names."""
    columns = [
        dg.TableColumn(
            column.name,
            column.dtype,
            description=column.description
            + (f" (sealed: {column.pii.value})" if column.pii != PiiClass.NONE else ""),
            constraints=dg.TableColumnConstraints(
                nullable=column.nullable, other=[check.name for check in column.checks]
            ),
        )
        for column in contract.columns
    ]
    return {
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": contract.dataset,
        "contract_version": contract.version,
    }


def _specs() -> list[dg.AssetSpec]:
    extract = dg.AssetSpec(
        "connector_extract",
        group_name="sync",
        kinds={"python", "wonde", "xod"},
        owners=OWNERS,
        deps=["school_registry"],
        skippable=True,
        freshness_policy=SYNC_FRESHNESS,
        description=(
            "What each school's connector delivered in this sync: a full read on first contact, "
            "then only what changed since the stored cursors. Counts only; the records flow "
            "straight into the scoped tables."
        ),
    )
    change_set = dg.AssetSpec(
        CHANGE_SET_ASSET,
        group_name="sync",
        kinds={"python", "sql"},
        owners=OWNERS,
        deps=["connector_extract"],
        skippable=True,
        description=(
            "What each sync changed about each school's pupils: new pupils, changed pupils (the names of "
            "the fields that changed, never values), leavers, deletions and restores, plus rows per other "
            "item. Applied at once for automatic schools; held as pending for manual schools until a "
            "person applies it. Kept, un-named, for the audit trail."
        ),
    )
    tables = [
        dg.AssetSpec(
            name,
            group_name="sync",
            kinds={"python", "sql"},
            owners=OWNERS,
            deps=[CHANGE_SET_ASSET],
            skippable=True,
            description=text + _HOW,
            metadata=contract_metadata(CONTRACTS[name]),
        )
        for name, text in _TABLES.items()
    ]
    return [extract, change_set, *tables]


@dg.multi_asset(
    name=SYNC_OP,
    specs=_specs(),
    partitions_def=SCHOOLS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,  # outputs become optional: each school partition gets its own events instead
    pool="connector_sync",
)
def sync_school_data(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    wonde: WondeResource,
    xod: XodResource,
    warehouse: WarehouseResource,
):
    """Sync every school in the run's partition range; one school's failure never stops the rest.
    Each school partition gets its own events with its own figures; the contract check
    (`no_quarantined_records`) is a separate, read-only asset check (sync/checks.py)."""
    engine = warehouse.engine()
    try:
        vault = warehouse.vault()
    except (KeyringError, MissingMasterKeyError) as error:  # fail before any school is contacted
        raise dg.Failure(description=str(error)) from None
    registry = {school.urn: school for school in list_schools(engine)}
    wanted = list(context.partition_keys)
    context.instance.add_run_tags(
        context.run.run_id, school_tags(wanted, {urn: school.name for urn, school in registry.items()})
    )
    blockers = {urn: _blocker(urn, registry) for urn in wanted}
    syncable = [registry[urn] for urn in wanted if blockers[urn] is None]
    blocked = [
        SchoolOutcome(urn, "skipped" if config.skip_blocked else "refused", reason=f"school {urn}: {reason}")
        for urn, reason in blockers.items()
        if reason is not None
    ]
    preview = frozenset(
        s.urn for s in syncable if s.sync_mode == "manual" and config.manual_schools != "apply"
    )
    sources = {"wonde": WondeSource(wonde), "xod": XodSource(xod)}
    outcomes = (
        sync_schools(
            engine,
            vault,
            sources,
            syncable,
            context.run.run_id,
            max_workers=config.max_workers,
            preview=preview,
            actor=run_actor(context.run.tags),
        )
        + blocked
    )
    for outcome in outcomes:  # one line per school, counts only
        synced = outcome.status in ("synced", "skipped") and not outcome.not_authorised
        (context.log.info if synced else context.log.warning)(outcome_summary(outcome))
    if len(blocked) and config.skip_blocked:
        context.log.info(
            f"{len(blocked)} schools in the range may not be contacted now; skipped without contact"
        )
    held = held_rows(engine, [o.urn for o in outcomes if o.status == "synced"])
    for outcome in outcomes:
        yield from _school_events(context, outcome, held.get(outcome.urn, {}), registry.get(outcome.urn))
    failed = [o for o in outcomes if o.status in ("failed", "refused")]
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(outcomes)} schools not synced: "
            + "; ".join(o.reason or o.urn for o in failed[:5]),
            metadata={"failed_schools": dg.MetadataValue.json([o.urn for o in failed])},
        )


def _school_events(context: dg.AssetExecutionContext, outcome: SchoolOutcome, held: dict[str, int], school):
    """The school partition's own events, in lineage order: what its connector delivered, its
    change set (a materialisation when applied; an observation, "pending, not applied", when a
    manual school's changes wait), and each table the sync changed, with the school's figures.
    A school whose sync changed nothing gets none: its tables are as they were."""
    selected = context.selected_asset_keys
    label = {"school": school.name} if school else {}

    def wanted(key: str) -> bool:
        return dg.AssetKey(key) in selected

    extract = school_extract_metadata(outcome)
    if extract and wanted("connector_extract"):
        yield dg.AssetMaterialization(
            "connector_extract", partition=outcome.urn, metadata={**label, **extract}
        )
    elif outcome.status == "synced" and wanted(
        "connector_extract"
    ):  # contacted, nothing new: said, not re-materialised
        context.log_event(
            dg.AssetObservation(
                "connector_extract",
                partition=outcome.urn,
                metadata={**label, "status": "synced, nothing new"},
            )
        )
    applied, pending = school_change_set_metadata(outcome), school_pending_metadata(outcome)
    if applied and wanted(CHANGE_SET_ASSET):
        yield dg.AssetMaterialization(CHANGE_SET_ASSET, partition=outcome.urn, metadata={**label, **applied})
    if pending and wanted(CHANGE_SET_ASSET):
        context.log_event(
            dg.AssetObservation(CHANGE_SET_ASSET, partition=outcome.urn, metadata={**label, **pending})
        )
    for dataset, metadata in school_table_metadata(outcome, held).items():
        if wanted(dataset):
            yield dg.AssetMaterialization(dataset, partition=outcome.urn, metadata={**label, **metadata})


def held_rows(engine, urns: list[str]) -> dict[str, dict[str, int]]:
    """{urn: {table: rows held}} after the sync, as `status` counts them."""
    if not urns:
        return {}
    tables = {"pupils": pupils_table, **DATASET_TABLES}
    by_table = {
        name: counts_by_school(engine, table, table.c.school_urn.in_(urns)) for name, table in tables.items()
    }
    return {urn: {name: counts.get(urn, 0) for name, counts in by_table.items()} for urn in urns}


def _blocker(urn: str, registry: dict) -> str | None:
    school = registry.get(urn)
    return "not in the registry" if school is None else school.blocker()
