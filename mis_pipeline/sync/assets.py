"""Per-school sync: the connector extract and the core `pupils` table, one school per partition."""


import dagster as dg

from mis_pipeline.connectors.normalise import normalise_wonde_student
from mis_pipeline.connectors.wonde import WondeResource
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.store import list_schools
from mis_pipeline.warehouse.resource import WarehouseResource

from .report import extract_metadata, outcome_summary, pupils_metadata
from .runner import SchoolOutcome, sync_schools

OWNERS = ["team:data-engineering"]
NO_QUARANTINE_CHECK = "no_quarantined_records"


class SyncConfig(dg.Config):
    max_workers: int = 4  # schools synced at once within one run


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "connector_extract", group_name="sync", kinds={"python", "wonde"}, owners=OWNERS,
            deps=["school_registry"], skippable=True,
            description=(
                "What each school's connector delivered in this sync: a full read on first contact, "
                "then only the records changed since the stored cursor. Counts only; the records "
                "themselves flow straight into the scoped tables."
            ),
        ),
        dg.AssetSpec(
            "pupils", group_name="sync", kinds={"python", "sql"}, owners=OWNERS, deps=["connector_extract"],
            skippable=True,
            description=(
                "The core record of every pupil each school has authorised us to hold: internal key, "
                "connector ids, UPN, legal names, date of birth, sex, NC year, admission and leaving "
                "dates. Written idempotently per school with its sync cursor in one transaction; "
                "records that break the contract are quarantined with the rule they broke."
            ),
        ),
    ],
    check_specs=[dg.AssetCheckSpec(NO_QUARANTINE_CHECK, asset="pupils",
                                   description="Every record received in the run met the pupils contract.")],
    partitions_def=SCHOOLS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,  # outputs (and the check) become optional: a run with no changes yields none
    pool="connector_sync",
)
def sync_core_pupils(context: dg.AssetExecutionContext, config: SyncConfig, wonde: WondeResource,
                     warehouse: WarehouseResource):
    """Sync every school in the run's partition range; one school's failure never stops the rest."""
    engine = warehouse.engine()
    registry = {school.urn: school for school in list_schools(engine)}
    wanted = list(context.partition_keys)
    syncable = [registry[urn] for urn in wanted
                if urn in registry and registry[urn].approval_state == "approved" and not registry[urn].paused]
    refused = [SchoolOutcome(urn, "refused", reason=_refusal(urn, registry))
               for urn in wanted if urn not in {s.urn for s in syncable}]
    outcomes = sync_schools(engine, wonde, syncable, context.run.run_id, normalise_wonde_student,
                            max_workers=config.max_workers) + refused
    for outcome in outcomes:
        if outcome.status != "synced":
            context.log.warning(outcome_summary(outcome))
    if any(_changed(outcome) for outcome in outcomes):
        yield from _materializations(outcomes, context.selected_asset_keys)
    else:
        # Nothing arrived for any school: the tables are as they were, so no partition is
        # re-materialised; each school's cursor and sync-log row still record the sync.
        context.log.info(f"no changes at any of {len(outcomes)} schools")
    failed = [o for o in outcomes if o.status in ("failed", "refused")]
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(outcomes)} schools not synced: "
                        + "; ".join(o.reason or o.urn for o in failed[:5]),
            metadata={"failed_schools": dg.MetadataValue.json([o.urn for o in failed])},
        )


def _changed(outcome: SchoolOutcome) -> bool:
    counts = outcome.counts
    return counts is not None and (outcome.mode == "full" or counts.fetched > 0 or counts.quarantined > 0)


def _materializations(outcomes: list[SchoolOutcome], selected: set[dg.AssetKey]):
    # Both tables are written together; a run that selected one reports only that one.
    if dg.AssetKey("connector_extract") in selected:
        yield dg.MaterializeResult(asset_key="connector_extract", metadata=extract_metadata(outcomes))
    if dg.AssetKey("pupils") not in selected:
        return
    metadata = pupils_metadata(outcomes)
    yield dg.MaterializeResult(asset_key="pupils", metadata=metadata, check_results=[
        dg.AssetCheckResult(check_name=NO_QUARANTINE_CHECK, passed=metadata["quarantined"] == 0,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"quarantined": metadata["quarantined"]}),
    ])


def _refusal(urn: str, registry: dict) -> str:
    school = registry.get(urn)
    if school is None:
        return f"school {urn} is not in the registry"
    if school.paused:
        return f"school {urn} is paused: collection stopped by the school"
    return f"school {urn} is no longer approved at the connector"
