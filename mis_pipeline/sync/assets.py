"""Per-school sync: the connector extract and every consent-scoped table, one school per partition."""

import dagster as dg

from mis_pipeline.audit.log import run_actor
from mis_pipeline.config import MissingMasterKeyError
from mis_pipeline.lib.crypto import KeyringError

from mis_pipeline.connectors.wonde import WondeResource
from mis_pipeline.connectors.xod import XodResource
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.store import list_schools
from mis_pipeline.warehouse.resource import WarehouseResource

from .report import change_set_metadata, changed, dataset_metadata, extract_metadata, outcome_summary
from .runner import SchoolOutcome, sync_schools
from .sources import WondeSource, XodSource

OWNERS = ["team:data-engineering"]
NO_QUARANTINE_CHECK = "no_quarantined_records"
SYNC_OP = "sync_school_data"
CHANGE_SET_ASSET = "pupil_change_set"

_TABLES = {
    "pupils": ("The core record of every pupil each school has authorised us to hold: internal key, "
               "connector ids, UPN, legal names, date of birth, sex, NC year, admission and leaving dates."),
    "pupil_details": "Additional pupil details (SEN, FSM, pupil premium, EAL, language, ethnicity, in care).",
    "attendance_sessions": "Session attendance: one DfE-coded mark per pupil per AM/PM session.",
    "assessment_results": "Assessment results: one result per pupil per aspect and result set.",
    "pupil_groups": "Membership of year, registration, house and teaching groups.",
}
_HOW = (" Held only for schools that granted this item. Written idempotently per school, with the "
        "school's cursors, in one transaction; records that break the contract are quarantined "
        "with the rule they broke.")


class SyncConfig(dg.Config):
    max_workers: int = 4  # schools synced at once within one run
    # "apply": a person asked for this run, so manual schools' changes land; "preview": automation
    # (sensor, schedule), so manual schools only get a pending change set.
    manual_schools: str = "apply"
    # Automation covers ranges of schools: one in the range that may not be contacted (paused, no
    # agreement…) is skipped without contact. A run a person asked for fails on it instead.
    skip_blocked: bool = False


def _specs() -> list[dg.AssetSpec]:
    extract = dg.AssetSpec(
        "connector_extract", group_name="sync", kinds={"python", "wonde", "xod"}, owners=OWNERS,
        deps=["school_registry"], skippable=True,
        description=("What each school's connector delivered in this sync: a full read on first contact, "
                     "then only what changed since the stored cursors. Counts only; the records flow "
                     "straight into the scoped tables."),
    )
    change_set = dg.AssetSpec(
        CHANGE_SET_ASSET, group_name="sync", kinds={"python", "sql"}, owners=OWNERS, deps=["connector_extract"],
        skippable=True,
        description=("What each sync changed about each school's pupils: new pupils, changed pupils (the names of "
                     "the fields that changed, never values), leavers, deletions and restores, plus rows per other "
                     "item. Applied at once for automatic schools; held as pending for manual schools until a "
                     "person applies it. Kept, un-named, for the audit trail."),
    )
    tables = [dg.AssetSpec(name, group_name="sync", kinds={"python", "sql"}, owners=OWNERS,
                           deps=[CHANGE_SET_ASSET], skippable=True, description=text + _HOW)
              for name, text in _TABLES.items()]
    return [extract, change_set, *tables]


@dg.multi_asset(
    name=SYNC_OP,
    specs=_specs(),
    check_specs=[dg.AssetCheckSpec(NO_QUARANTINE_CHECK, asset=name,
                                   description=("Every record received in the run met the dataset's contract "
                                                "(data_contracts/); failures are counted per rule, never shown."))
                 for name in _TABLES],
    partitions_def=SCHOOLS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,  # outputs (and checks) become optional: a run with no changes yields none
    pool="connector_sync",
)
def sync_school_data(context: dg.AssetExecutionContext, config: SyncConfig, wonde: WondeResource,
                     xod: XodResource, warehouse: WarehouseResource):
    """Sync every school in the run's partition range; one school's failure never stops the rest."""
    engine = warehouse.engine()
    try:
        vault = warehouse.vault()
    except (KeyringError, MissingMasterKeyError) as error:  # fail before any school is contacted
        raise dg.Failure(description=str(error)) from None
    registry = {school.urn: school for school in list_schools(engine)}
    wanted = list(context.partition_keys)
    blockers = {urn: _blocker(urn, registry) for urn in wanted}
    syncable = [registry[urn] for urn in wanted if blockers[urn] is None]
    blocked = [SchoolOutcome(urn, "skipped" if config.skip_blocked else "refused", reason=f"school {urn}: {reason}")
               for urn, reason in blockers.items() if reason is not None]
    preview = frozenset(s.urn for s in syncable if s.sync_mode == "manual" and config.manual_schools == "preview")
    sources = {"wonde": WondeSource(wonde), "xod": XodSource(xod)}
    outcomes = sync_schools(engine, vault, sources, syncable, context.run.run_id,
                            max_workers=config.max_workers, preview=preview,
                            actor=run_actor(context.run.tags)) + blocked
    for outcome in outcomes:
        if outcome.status not in ("synced", "skipped") or outcome.not_authorised:
            context.log.warning(outcome_summary(outcome))
    if len(blocked) and config.skip_blocked:
        context.log.info(f"{len(blocked)} schools in the range may not be contacted now; skipped without contact")
    tables_changed = any(changed(outcome) for outcome in outcomes)
    if tables_changed or any(o.change_set for o in outcomes):
        yield from _materializations(outcomes, context.selected_asset_keys, tables_changed)
    else:
        # Nothing arrived for any school: the tables are as they were, so no partition is
        # re-materialised; each school's cursors and sync-log rows still record the sync.
        context.log.info(f"no changes at any of {len(outcomes)} schools")
    failed = [o for o in outcomes if o.status in ("failed", "refused")]
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(outcomes)} schools not synced: "
                        + "; ".join(o.reason or o.urn for o in failed[:5]),
            metadata={"failed_schools": dg.MetadataValue.json([o.urn for o in failed])},
        )


def _materializations(outcomes: list[SchoolOutcome], selected: set[dg.AssetKey], tables_changed: bool):
    # In lineage order. Every table is written together; a run that selected some reports only
    # those; a manual school's preview changes no table, only the change sets.
    if dg.AssetKey("connector_extract") in selected:
        yield dg.MaterializeResult(asset_key="connector_extract", metadata=extract_metadata(outcomes))
    if dg.AssetKey(CHANGE_SET_ASSET) in selected and any(o.change_set for o in outcomes):
        yield dg.MaterializeResult(asset_key=CHANGE_SET_ASSET, metadata=change_set_metadata(outcomes))
    for dataset in _TABLES if tables_changed else ():
        if dg.AssetKey(dataset) not in selected:
            continue
        metadata = dataset_metadata(outcomes, dataset)
        yield dg.MaterializeResult(asset_key=dataset, metadata=_without_rules(metadata), check_results=[
            dg.AssetCheckResult(asset_key=dataset, check_name=NO_QUARANTINE_CHECK, passed=metadata["quarantined"] == 0,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"quarantined": metadata["quarantined"],
                                          "failures_by_rule": dg.MetadataValue.json(metadata["quarantined_by_rule"])}),
        ])


def _without_rules(metadata: dict) -> dict:
    # Rule counts belong to the contract check; the materialisation keeps the plain counts.
    return {k: v for k, v in metadata.items() if k != "quarantined_by_rule"}


def _blocker(urn: str, registry: dict) -> str | None:
    school = registry.get(urn)
    return "not in the registry" if school is None else school.blocker()
