"""The contract check, per school partition, read-only: it reads the warehouse's quarantine and
never contacts a connector, so the `check_school_data` job re-verifies any schools at any time
without side effects. (Dagster 1.13's UI does not yet offer "Execute" on a partitioned asset's
check by itself; the job's launchpad picks the partitions instead.)"""

import warnings

import dagster as dg
from sqlalchemy import Engine, func, select

from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.store import list_schools
from mis_pipeline.sync.assets import TABLE_ASSETS
from mis_pipeline.warehouse.resource import WarehouseResource
from mis_pipeline.warehouse.schema import quarantine

# Partitioned asset checks are a preview in Dagster 1.13; they are what gives each school its own
# result, and the warning would otherwise reach every operator's terminal.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

NO_QUARANTINE_CHECK = "no_quarantined_records"
CHECK_JOB = "check_school_data"
RULE_PREFIX = "rule: "  # one metadata entry per rule broken, e.g. "rule: upn: upn_check_letter"


def quarantined_by_rule(engine: Engine, dataset: str, urns: list[str]) -> dict[str, dict[str, int]]:
    """{urn: {rule: records held back}} for one dataset; rules and counts only, never a value."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.school_urn, quarantine.c.rule, func.count())
            .where(quarantine.c.dataset == dataset, quarantine.c.school_urn.in_(urns))
            .group_by(quarantine.c.school_urn, quarantine.c.rule)
        ).all()
    found: dict[str, dict[str, int]] = {urn: {} for urn in urns}
    for urn, rule, count in rows:
        found[urn][rule] = count
    return found


def check_metadata(rules: dict[str, int], school_name: str | None) -> dict:
    """The school's result: how many records are held back, and how many per rule, each rule its
    own field (so the UI shows them without opening JSON)."""
    return {
        **({"school": school_name} if school_name else {}),
        "quarantined": sum(rules.values()),
        **{f"{RULE_PREFIX}{rule}": count for rule, count in sorted(rules.items())},
    }


def _schools_asked(context: dg.AssetCheckExecutionContext) -> list[str]:
    # One partition (the UI's Execute on a partition), a range (a run over many schools), or, with
    # no partition at all, every school partition there is.
    if context.has_partition_key or context.has_partition_key_range:
        return list(context.partition_keys)
    return list(context.instance.get_dynamic_partitions(SCHOOLS.name))


def _quarantine_check(dataset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        name=NO_QUARANTINE_CHECK,
        asset=dataset,
        partitions_def=SCHOOLS,
        blocking=False,
        description=(
            "Every record the school's connector delivered met the dataset's contract "
            "(data_contracts/): passes when none of the school's records is held in quarantine. "
            "Counts per rule, never values. Reads the warehouse only: never contacts a connector."
        ),
    )
    def check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        engine = warehouse.engine()
        urns = _schools_asked(context)
        names = {school.urn: school.name for school in list_schools(engine)}
        for urn, rules in quarantined_by_rule(engine, dataset, urns).items():
            yield dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(dataset),
                check_name=NO_QUARANTINE_CHECK,
                partition=urn,
                passed=not rules,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=check_metadata(rules, names.get(urn)),
            )
        # The evaluations above carry one result per school; the step's own output is only the
        # signal that the check ran (a plain AssetCheckResult cannot name a partition of a range).
        yield dg.Output(None, output_name="result")

    return check


quarantine_checks = [_quarantine_check(dataset) for dataset in TABLE_ASSETS]

# Retention's whole-warehouse check that no pupil-linked row outlives its pupil (defined in
# retention/assets.py) also follows every sync: a sync is where such rows could appear.
UNLINKED_AFTER_SYNC = dg.AssetCheckKey(dg.AssetKey("pupils"), "no_unlinked_pupil_rows")

check_school_data_job = dg.define_asset_job(
    CHECK_JOB,
    selection=dg.AssetSelection.checks(*quarantine_checks, UNLINKED_AFTER_SYNC),
    partitions_def=SCHOOLS,
    executor_def=dg.in_process_executor,
    description=(
        "Re-evaluate the contract checks of the schools in the run's range, and that no pupil-linked row "
        "outlives its pupil, from the warehouse only."
    ),
)
