"""Retention in Dagster: the schedule of due dates, the 6-month and 5-year purges, and the checks
that prove to an auditor, in the UI, that nothing named is held past its deadline."""

from collections import Counter
from datetime import date

import dagster as dg

from data_contracts import UNNAMED_PUPILS
from mis_pipeline.config import MissingMasterKeyError, is_production
from mis_pipeline.lib.crypto import KeyringError
from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.run_tags import TRIGGER_TAG, run_actor
from mis_pipeline.retention.store import (
    named_past_deadline,
    purge_named,
    purge_unnamed,
    refresh_schedule,
    unnamed_past_deadline,
)
from mis_pipeline.retention.subjects import unlinked_counts
from mis_pipeline.sync.assets import CHANGE_SET_ASSET, TABLE_ASSETS, contract_metadata
from mis_pipeline.warehouse.resource import WarehouseResource

OWNERS = ["team:data-engineering"]
GROUP = "retention"
NAMED_CHECK = "no_named_data_past_its_deadline"
UNNAMED_CHECK = "no_unnamed_data_past_five_years"
UNLINKED_CHECK = "no_unlinked_pupil_rows"
WARNING_DAYS = 30
UNNAMED_STORE = "unnamed_pupil_records"
# The purge reads every named table (attendance and results become the un-named figures) and
# deletes from each of them.
NAMED_TABLES = TABLE_ASSETS


class PurgeConfig(dg.Config):
    as_of: str = ""  # YYYY-MM-DD (Europe/London); empty: today


def as_of_date(config: PurgeConfig) -> date:
    """The purge date. A future date would purge data before it is due, so production refuses one."""
    today = london_today()
    if not config.as_of:
        return today
    try:
        day = date.fromisoformat(config.as_of)
    except ValueError:
        raise dg.Failure(description=f"as_of must be a date as YYYY-MM-DD (got {config.as_of!r})") from None
    if day > today and is_production():
        raise dg.Failure(description=f"as_of {day} is in the future: production never purges ahead of time")
    return day


@dg.asset(
    key="retention_eligible_records",
    group_name=GROUP,
    kinds={"python", "sql"},
    owners=OWNERS,
    deps=["pupils", "school_registry"],
)
def retention_eligible_records(
    context: dg.AssetExecutionContext, config: PurgeConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Every pupil whose data falls due within 30 days (named, or known only through quarantine),
    with the rule that applies (left, completed the school's last key stage, subscription ended,
    access revoked at the connector, no named record), its trigger date and the date by which every
    row of theirs must be gone: 6 calendar months after the earliest trigger. Costs what falls due,
    not what is held. Also the schools whose final year group is unknown (the completion rule
    cannot fire there)."""
    summary = refresh_schedule(warehouse.engine(), as_of_date(config), WARNING_DAYS)
    if summary.schools_without_final_year:
        context.log.warning(
            f"{len(summary.schools_without_final_year)} schools have no known final year group; "
            "set one with `schools set URN --final-year-group N`"
        )
    return dg.MaterializeResult(
        metadata={
            "named_pupils": summary.pupils,
            "due_now": dg.MetadataValue.json(summary.due_now),
            f"due_within_{WARNING_DAYS}_days": dg.MetadataValue.json(summary.due_soon),
            "schools_without_final_year_group": dg.MetadataValue.json(summary.schools_without_final_year),
        }
    )


@dg.asset(
    key="named_data_purge",
    group_name=GROUP,
    kinds={"python", "sql"},
    owners=OWNERS,
    deps=["retention_eligible_records", *NAMED_TABLES],
)
def named_data_purge(context: dg.AssetExecutionContext, config: PurgeConfig, warehouse: WarehouseResource):
    """The 6-month purge: for each pupil whose named data is due, write the un-named record the
    contract allows (school, year, NC year, sex, flags, attendance and assessment figures), destroy
    the pupil's data key (every sealed copy becomes unreadable) and delete the named rows, a school
    per transaction, audited. Idempotent; a pupil not yet due is never touched."""
    as_of = as_of_date(config)
    engine = warehouse.engine()
    try:
        vault = warehouse.vault()
    except (KeyringError, MissingMasterKeyError) as error:
        raise dg.Failure(description=str(error)) from None
    report = purge_named(engine, vault, as_of, actor=run_actor(context.run.tags), run_id=context.run.run_id)
    context.log.info(
        f"purged {report.pupils} pupils' named data as of {as_of} in {len(report.by_school)} schools"
    )
    if report.pupils:  # the un-named store received their records
        context.log_event(dg.AssetMaterialization(UNNAMED_STORE, metadata={"records_added": report.pupils}))
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "pupils_un_named": report.pupils,
            "by_rule": dg.MetadataValue.json(report.by_rule),  # the CLI's summary reads it
            **{f"rule: {rule}": count for rule, count in sorted(report.by_rule.items())},
            "schools": len(report.by_school),
            "rows_removed": dg.MetadataValue.json(report.rows_removed),
        },
    )


@dg.asset(
    key="unnamed_data_purge",
    group_name=GROUP,
    kinds={"python", "sql"},
    owners=OWNERS,
    deps=["named_data_purge", UNNAMED_STORE, CHANGE_SET_ASSET],
)
def unnamed_data_purge(context: dg.AssetExecutionContext, config: PurgeConfig, warehouse: WarehouseResource):
    """The 5-year purge: un-named records and change sets are deleted 5 years after they were made."""
    as_of = as_of_date(config)
    engine = warehouse.engine()
    counts = purge_unnamed(engine, as_of, actor=run_actor(context.run.tags), run_id=context.run.run_id)
    return dg.MaterializeResult(metadata={"as_of": as_of.isoformat(), **counts})


# ── the agreement's checks: read-only, so an auditor can "Execute" them from the UI at any time ──
@dg.asset_check(
    name=NAMED_CHECK,
    asset="named_data_purge",
    blocking=True,
    description=(
        "The agreement: all pupil data is removed from the named store no later than 6 months after the "
        "pupil left, completed the school's last key stage, or the subscription ended. Passes when no "
        "pupil (held named, or only through quarantine) is held on or after the day their data fell due "
        "(today, in England), with the late pupils counted per rule and per school. Blocking: a failure means the agreement is broken, so "
        "the purge run stops there and fails. Reads only."
    ),
)
def no_named_data_past_its_deadline(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    today = london_today()
    late = named_past_deadline(warehouse.engine(), today)
    return dg.AssetCheckResult(
        passed=not late,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "as_of": today.isoformat(),
            "named_pupils_past_deadline": len(late),
            **{f"rule: {rule}": n for rule, n in sorted(Counter(p.due.rule for p in late).items())},
            **{f"school {urn}": n for urn, n in sorted(Counter(p.school_urn for p in late).items())},
        },
    )


@dg.asset_check(
    name=UNNAMED_CHECK,
    asset="unnamed_data_purge",
    blocking=True,
    description=(
        "The agreement: un-named pupil information is kept for auditing for up to 5 years. Passes when no "
        "un-named record is held on or after its fifth anniversary (today, in England). Reads only."
    ),
)
def no_unnamed_data_past_five_years(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    today = london_today()
    late = unnamed_past_deadline(warehouse.engine(), today)
    return dg.AssetCheckResult(
        passed=late == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"as_of": today.isoformat(), "unnamed_records_past_limit": late},
    )


retention_checks = [no_named_data_past_its_deadline, no_unnamed_data_past_five_years]


def _unlinked_check(asset: str, after: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=UNLINKED_CHECK,
        blocking=True,
        description=(
            "No row in any pupil-linked table (every table holding a pupil key: items, quarantine, change "
            "history, the schedule, share logs, data keys) belongs to a pupil of whom we hold neither a named "
            f"record nor a live quarantined record. Runs after {after}; only reads, so it can be run on its "
            "own from the UI at any time. Its metadata names tables and counts, never a key."
        ),
    )
    def no_unlinked_pupil_rows(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.engine().connect() as conn:
            counts = unlinked_counts(conn)
        found = {table: n for table, n in counts.items() if n}
        return dg.AssetCheckResult(
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "unlinked_rows": sum(found.values()),
                "by_table": dg.MetadataValue.json(found),
                "tables_checked": len(counts),
            },
        )

    return no_unlinked_pupil_rows


unlinked_after_sync = _unlinked_check("pupils", "every sync")
unlinked_after_purge = _unlinked_check("named_data_purge", "every purge")

PURGE_JOB = "purge_retention"

purge_retention_job = dg.define_asset_job(
    PURGE_JOB,
    selection=dg.AssetSelection.groups(GROUP),
    executor_def=dg.in_process_executor,
    tags={TRIGGER_TAG: "ui"},  # the CLI and the schedule set their own
    description="Refresh the retention schedule, then the 6-month and the 5-year purges, with their checks.",
)

daily_retention_purge = dg.ScheduleDefinition(
    name="daily_retention_purge",
    job=purge_retention_job,
    cron_schedule="30 1 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags={TRIGGER_TAG: "daily_retention_purge"},
    description=(
        "Every night at 01:30 (England): the purges are the agreement's promise, so this is on by "
        "default; it only ever removes what is due that day."
    ),
)

# Written by the 6-month purge as a side effect, declared as an asset so the lineage is complete.
unnamed_pupil_records = dg.AssetSpec(
    UNNAMED_STORE,
    group_name="retention",
    kinds={"sql"},
    owners=OWNERS,
    deps=["named_data_purge"],
    metadata=contract_metadata(UNNAMED_PUPILS),
    description=(
        "The un-named store: what the contract allows to be kept once a pupil's named data is purged "
        "(school, year, NC year, sex, SEN/FSM/PP/EAL flags, attendance and assessment figures), linkable "
        "to no one; kept for auditing for up to 5 years, then removed by the 5-year purge."
    ),
)
