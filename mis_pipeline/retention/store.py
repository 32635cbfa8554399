"""Retention against the warehouse: the schedule of what falls due, and the purges that honour it.

Who is due comes from `due.py` (the database picks candidates, `rules.py` decides); what a pupil's
purge removes comes from `subjects.py` (every pupil-linked table, read from the schema). Each
school's purge (un-named records, destroyed data keys, deleted rows, audit entry) is one
transaction, so a crash leaves a pupil either fully named or fully gone.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select

from mis_pipeline.lib.academic import academic_year_label
from mis_pipeline.retention.due import (
    DueSubject,
    SchoolFacts,
    _start_of_london_day,
    due_subjects,
    school_facts,
)
from mis_pipeline.retention.rules import UNNAMED_PERIOD, latest_trigger_due_by
from mis_pipeline.retention.subjects import SCHOOL_KEY_PREFIX, remove_subjects, remove_unlinked
from mis_pipeline.retention.tombstones import destroyed_key_digests
from mis_pipeline.warehouse.audit_log import record_audit
from mis_pipeline.warehouse.schema import (
    DATASET_TABLES,
    change_sets,
    pupil_changes,
    pupils,
    quarantine,
    retention_schedule,
    sync_state,
    unnamed_pupils,
)
from mis_pipeline.warehouse.vault import Vault, school_key_ref

__all__ = [
    "SchoolFacts",
    "school_facts",
    "purge_named",
    "purge_unnamed",
    "refresh_schedule",
    "due_within",
    "named_past_deadline",
    "unnamed_past_deadline",
    "purge_subjects",
]

_CHUNK = 1000


@dataclass(frozen=True)
class PurgeReport:
    as_of: date
    pupils: int
    by_rule: dict[str, int]
    by_school: dict[str, int]
    rows_removed: dict[str, int] = field(default_factory=dict)  # per table, due pupils and unlinked rows


def purge_named(
    engine: Engine, vault: Vault, as_of: date, actor: str, run_id: str | None = None
) -> PurgeReport:
    """Remove every pupil whose data is due by `as_of` from every pupil-linked table (leaving the
    un-named record the contract allows for those we held named), a school per transaction; then
    what ended schools left, and any row no pupil links to any more. Idempotent."""
    with engine.connect() as conn:
        by_school: dict[str, list[DueSubject]] = defaultdict(list)
        for subject in due_subjects(conn, as_of, as_of):
            by_school[subject.school_urn].append(subject)
        facts = school_facts(conn, as_of)
    rows: Counter = Counter()
    for urn, due in sorted(by_school.items()):
        with engine.begin() as conn:
            rows.update(purge_subjects(conn, vault, urn, due, as_of, actor, run_id))
    with engine.begin() as conn:
        _purge_school_leftovers(conn, vault, facts, as_of, actor, run_id)
        unlinked = remove_unlinked(conn)
        if unlinked:
            record_audit(
                conn,
                "purge",
                {"kind": "unlinked", "as_of": as_of.isoformat(), "rows_removed": unlinked},
                actor=actor,
                run_id=run_id,
            )
    rows.update(unlinked)
    by_rule = Counter(subject.due.rule for due in by_school.values() for subject in due)
    return PurgeReport(
        as_of,
        sum(by_rule.values()),
        dict(sorted(by_rule.items())),
        {urn: len(due) for urn, due in sorted(by_school.items())},
        dict(sorted(rows.items())),
    )


def purge_subjects(
    conn: Connection,
    vault: Vault,
    urn: str,
    due: list[DueSubject],
    as_of: date,
    actor: str,
    run_id: str | None,
    replayed: bool = False,
) -> dict[str, int]:
    """One school's due pupils, in the caller's transaction: the un-named records, then every row
    of theirs in every pupil-linked table, their data keys included. The audit entry carries
    counts and digests of the destroyed data keys (which only a restored backup could match, see
    `replay.py`), never a pupil key."""
    keys = [subject.pupil_key for subject in due]
    named = [subject for subject in due if subject.named]
    for start in range(0, len(named), _CHUNK):
        records = _unnamed_records(conn, urn, named[start : start + _CHUNK], as_of)
        if records:
            conn.execute(insert(unnamed_pupils), records)
    rule_of = {subject.pupil_key: subject.due.rule for subject in due}
    destroyed: dict[str, list[str]] = defaultdict(list)
    for key, digest in destroyed_key_digests(conn, vault, keys).items():
        destroyed[rule_of[key]].append(digest)
    removed = remove_subjects(conn, keys)
    record_audit(
        conn,
        "purge",
        {
            "kind": "named",
            "as_of": as_of.isoformat(),
            "pupils": len(keys),
            "by_rule": dict(sorted(Counter(rule_of.values()).items())),
            "rows_removed": removed,
            "destroyed_keys": {rule: sorted(digests) for rule, digests in sorted(destroyed.items())},
            **({"replayed_after_restore": True} if replayed else {}),
        },
        actor=actor,
        school_urn=urn,
        run_id=run_id,
    )
    return removed


def _unnamed_records(conn: Connection, urn: str, due: list[DueSubject], as_of: date) -> list[dict]:
    """What the contract lets us keep about each named pupil once purged: figures, never identity."""
    keys = [subject.pupil_key for subject in due]
    details_table = DATASET_TABLES["pupil_details"]
    attendance_table = DATASET_TABLES["attendance_sessions"]
    results_table = DATASET_TABLES["assessment_results"]
    base = {
        row.pupil_key: row
        for row in conn.execute(
            select(pupils.c.pupil_key, pupils.c.nc_year, pupils.c.sex).where(pupils.c.pupil_key.in_(keys))
        )
    }
    details = {
        row.pupil_key: row
        for row in conn.execute(select(details_table).where(details_table.c.pupil_key.in_(keys)))
    }
    marks: dict[str, dict[str, int]] = defaultdict(dict)
    for key, mark, count in conn.execute(
        select(attendance_table.c.pupil_key, attendance_table.c.mark, func.count())
        .where(attendance_table.c.pupil_key.in_(keys))
        .group_by(attendance_table.c.pupil_key, attendance_table.c.mark)
    ):
        marks[key][mark] = count
    results: dict[str, list] = defaultdict(list)
    for row in conn.execute(
        select(
            results_table.c.pupil_key,
            results_table.c.aspect_name,
            results_table.c.result_set_name,
            results_table.c.result,
        ).where(results_table.c.pupil_key.in_(keys))
    ):
        results[row.pupil_key].append([row.aspect_name, row.result_set_name, row.result])
    records = []
    for subject in due:
        key = subject.pupil_key
        if key not in base:
            continue
        detail = details.get(key)
        records.append(
            dict(
                school_urn=urn,
                academic_year=academic_year_label(subject.observed_on),
                nc_year=base[key].nc_year,
                sex=base[key].sex,
                sen_status=detail.sen_status if detail else None,
                fsm_eligible=detail.fsm_eligible if detail else None,
                pupil_premium=detail.pupil_premium if detail else None,
                eal=detail.eal if detail else None,
                attendance=json.dumps(dict(sorted(marks[key].items()))),
                results=json.dumps(sorted(results[key])),
                rule=subject.due.rule,
                unnamed_on=as_of,
            )
        )
    return records


def _purge_school_leftovers(
    conn: Connection, vault: Vault, facts: dict[str, SchoolFacts], as_of: date, actor: str, run_id: str | None
) -> None:
    """What names no pupil but may still hold named data: quarantined records with no pupil id
    (sealed under the school's key) go 6 months after they were quarantined, and everything of a
    school whose subscription or access ended 6 months ago goes (its school key, its cursors)."""
    latest = latest_trigger_due_by(as_of)
    unattributed = quarantine.c.key_ref.like(f"{SCHOOL_KEY_PREFIX}%")
    stale = and_(unattributed, quarantine.c.quarantined_at < _start_of_london_day(latest + timedelta(days=1)))
    removed = Counter(
        dict(
            conn.execute(
                select(quarantine.c.school_urn, func.count()).where(stale).group_by(quarantine.c.school_urn)
            ).all()
        )
    )
    conn.execute(delete(quarantine).where(stale))
    kinds = {urn: "unattributed_quarantine" for urn in removed}
    for urn, school in sorted(facts.items()):
        if school.end is None or school.end.due > as_of:
            continue
        removed[urn] += conn.execute(
            delete(quarantine).where(quarantine.c.school_urn == urn, unattributed)
        ).rowcount
        keys = vault.destroy(conn, [school_key_ref(urn)])
        conn.execute(delete(sync_state).where(sync_state.c.school_urn == urn))
        if removed[urn] or keys:
            kinds[urn] = school.end.rule
    for urn, kind in sorted(kinds.items()):
        record_audit(
            conn,
            "purge",
            {"kind": kind, "as_of": as_of.isoformat(), "quarantined_records_removed": removed[urn]},
            actor=actor,
            school_urn=urn,
            run_id=run_id,
        )


def _unnamed_cutoff(as_of: date) -> date:
    """The last un-naming day whose 5 years have run by `as_of`."""
    return latest_trigger_due_by(as_of, UNNAMED_PERIOD)


def purge_unnamed(engine: Engine, as_of: date, actor: str, run_id: str | None = None) -> dict[str, int]:
    """Delete un-named records, and change sets, 5 years after they were made; returns counts."""
    cutoff = _unnamed_cutoff(as_of)
    old_sets = select(change_sets.c.id).where(
        change_sets.c.created_at < _start_of_london_day(cutoff + timedelta(days=1))
    )
    with engine.begin() as conn:
        records = conn.execute(delete(unnamed_pupils).where(unnamed_pupils.c.unnamed_on <= cutoff)).rowcount
        conn.execute(delete(pupil_changes).where(pupil_changes.c.change_set_id.in_(old_sets)))
        sets = conn.execute(
            delete(change_sets).where(change_sets.c.id.in_(old_sets.scalar_subquery()))
        ).rowcount
        counts = {"unnamed_records": records, "change_sets": sets}
        if records or sets:
            record_audit(
                conn,
                "purge",
                {"kind": "unnamed", "as_of": as_of.isoformat(), **counts},
                actor=actor,
                run_id=run_id,
            )
    return counts


@dataclass(frozen=True)
class ScheduleSummary:
    pupils: int  # named pupils held
    due_now: dict[str, int]  # by rule: data that must go today or is already late
    due_soon: dict[str, int]  # by rule: due within the warning window
    schools_without_final_year: list[str]


def refresh_schedule(engine: Engine, today: date, warning_days: int = 30) -> ScheduleSummary:
    """Replace the retention schedule with every pupil due within the warning window: their rule,
    trigger and due date. Costs what falls due, not what is held."""
    horizon = today + timedelta(days=warning_days)
    with engine.begin() as conn:
        facts = school_facts(conn, today)
        due = list(due_subjects(conn, today, horizon, facts))
        conn.execute(delete(retention_schedule))
        rows = [
            dict(
                pupil_key=s.pupil_key,
                school_urn=s.school_urn,
                rule=s.due.rule,
                trigger_on=s.due.trigger,
                due_on=s.due.due,
                computed_on=today,
            )
            for s in due
        ]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(retention_schedule), rows[start : start + 5000])
        held = conn.execute(select(func.count()).select_from(pupils)).scalar_one()
    due_now = Counter(s.due.rule for s in due if s.due.due <= today)
    due_soon = Counter(s.due.rule for s in due if s.due.due > today)
    unknown = sorted(urn for urn, school in facts.items() if school.final_year is None)
    return ScheduleSummary(held, dict(sorted(due_now.items())), dict(sorted(due_soon.items())), unknown)


def due_within(engine: Engine, today: date, days: int) -> list[dict]:
    """The early warning: per school and rule, pupils whose data is due within `days`."""
    counts: Counter = Counter()
    first: dict[tuple[str, str], date] = {}
    with engine.connect() as conn:
        for subject in due_subjects(conn, today, today + timedelta(days=days)):
            key = (subject.school_urn, subject.due.rule)
            counts[key] += 1
            first[key] = min(first.get(key, subject.due.due), subject.due.due)
    return [
        {
            "urn": urn,
            "rule": rule,
            "pupils": n,
            "first_due": first[urn, rule].isoformat(),
            "overdue": first[urn, rule] <= today,
        }
        for (urn, rule), n in sorted(counts.items())
    ]


def named_past_deadline(engine: Engine, as_of: date) -> list[DueSubject]:
    """Pupils (named, or known only through quarantine) still held on or after their due date: must be none."""
    with engine.connect() as conn:
        return list(due_subjects(conn, as_of, as_of))


def unnamed_past_deadline(engine: Engine, as_of: date) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(unnamed_pupils)
            .where(unnamed_pupils.c.unnamed_on <= _unnamed_cutoff(as_of))
        ).scalar_one()
