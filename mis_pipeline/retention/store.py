"""Retention against the warehouse: each named pupil's due date, and the purges that honour them.

The rules themselves are in `rules.py`; this module only gathers each pupil's facts, and writes
each school's purge (un-named records, destroyed data keys, deleted rows, audit entry) in one
transaction, so a crash leaves a pupil either fully named or fully un-named.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Iterator

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, select, update

from mis_pipeline.audit.log import record_audit
from mis_pipeline.lib.academic import academic_year_label
from mis_pipeline.lib.dates import london_date, london_today
from mis_pipeline.warehouse.schema import (
    DATASET_TABLES, change_sets, data_keys, gias_establishments, pupil_changes, pupils, quarantine, retention_schedule,
    schools, share_pupils, sync_state, unnamed_pupils,
)
from mis_pipeline.warehouse.vault import Vault, school_key_ref

from .rules import NAMED_PERIOD, RULE_SUBSCRIPTION, Due, PupilTimeline, final_year_group, is_due, retention_due, unnamed_due

_CHUNK = 500


@dataclass(frozen=True)
class SchoolFacts:
    final_year: int | None
    subscription_end: date | None
    observed_on: date  # the last day the school told us its pupils' NC years (its last sync)


@dataclass(frozen=True)
class DuePupil:
    pupil_key: str
    school_urn: str
    due: Due | None  # None: no rule can fire yet (e.g. the school's final year group is unknown)
    observed_on: date  # the day the school last reported the pupil's NC year


def school_facts(conn: Connection, today: date) -> dict[str, SchoolFacts]:
    """What the rules need about every school: its final year group (explicit, else from GIAS),
    its subscription end, and the day it last reported its pupils."""
    rows = conn.execute(
        select(schools.c.urn, schools.c.final_year_group, schools.c.subscription_end, gias_establishments.c.phase_name,
               gias_establishments.c.statutory_high_age, sync_state.c.last_sync_at)
        .select_from(schools.outerjoin(gias_establishments, gias_establishments.c.urn == schools.c.urn)
                     .outerjoin(sync_state, and_(sync_state.c.school_urn == schools.c.urn, sync_state.c.dataset == "pupils")))
    ).all()
    return {row.urn: SchoolFacts(final_year_group(row.phase_name, row.statutory_high_age, row.final_year_group),
                                 row.subscription_end, london_date(row.last_sync_at) or today) for row in rows}


def due_pupils(engine: Engine, today: date | None = None, school_urn: str | None = None) -> Iterator[DuePupil]:
    """Every named pupil with the rule, trigger and due date that applies to them."""
    today = today or london_today()
    query = select(pupils.c.pupil_key, pupils.c.school_urn, pupils.c.leaving_date, pupils.c.left_informed_at,
                   pupils.c.deleted_at, pupils.c.nc_year).order_by(pupils.c.school_urn, pupils.c.pupil_key)
    if school_urn is not None:
        query = query.where(pupils.c.school_urn == school_urn)
    with engine.connect() as conn:
        facts = school_facts(conn, today)
        for row in conn.execute(query).yield_per(5000):
            school = facts.get(row.school_urn) or SchoolFacts(None, None, today)
            timeline = PupilTimeline(
                leaving_date=row.leaving_date, left_informed_on=london_date(row.left_informed_at),
                deleted_on=london_date(row.deleted_at), nc_year=row.nc_year, nc_year_observed_on=school.observed_on,
                final_year=school.final_year, subscription_end=school.subscription_end,
            )
            yield DuePupil(row.pupil_key, row.school_urn, retention_due(timeline), school.observed_on)


@dataclass(frozen=True)
class PurgeReport:
    as_of: date
    pupils: int
    by_rule: dict[str, int]
    by_school: dict[str, int]


def purge_named(engine: Engine, vault: Vault, as_of: date, actor: str, run_id: str | None = None) -> PurgeReport:
    """Un-name every pupil whose named data is due by `as_of`, a school per transaction. Idempotent:
    a purged pupil is gone, and a pupil not yet due is never touched."""
    by_school: dict[str, list[DuePupil]] = defaultdict(list)
    for pupil in due_pupils(engine, as_of):
        if is_due(pupil.due, as_of):
            by_school[pupil.school_urn].append(pupil)
    by_rule: Counter = Counter()
    for urn, due in sorted(by_school.items()):
        with engine.begin() as conn:
            _purge_school(conn, vault, urn, due, as_of, actor, run_id)
        by_rule.update(p.due.rule for p in due)
    with engine.begin() as conn:
        _purge_ended_subscriptions(conn, vault, as_of, actor, run_id)
        _destroy_orphan_keys(conn, vault)
    return PurgeReport(as_of, sum(by_rule.values()), dict(sorted(by_rule.items())),
                       {urn: len(due) for urn, due in sorted(by_school.items())})


def _purge_school(conn: Connection, vault: Vault, urn: str, due: list[DuePupil], as_of: date, actor: str,
                  run_id: str | None) -> None:
    rules = {p.pupil_key: p.due.rule for p in due}
    years = {p.pupil_key: academic_year_label(p.observed_on) for p in due}
    keys = sorted(rules)
    rows_removed: Counter = Counter()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        records = _unnamed_records(conn, urn, chunk, rules, years, as_of)
        if records:
            conn.execute(insert(unnamed_pupils), records)
        for name, table in DATASET_TABLES.items():
            rows_removed[name] += conn.execute(delete(table).where(table.c.pupil_key.in_(chunk))).rowcount
        rows_removed["pupils"] += conn.execute(delete(pupils).where(pupils.c.pupil_key.in_(chunk))).rowcount
        rows_removed["quarantine"] += conn.execute(delete(quarantine).where(quarantine.c.key_ref.in_(chunk))).rowcount
        # change sets stay for the audit trail, no longer linked to the pupil
        conn.execute(update(pupil_changes).where(pupil_changes.c.pupil_key.in_(chunk)).values(pupil_key=None))
        conn.execute(delete(share_pupils).where(share_pupils.c.pupil_key.in_(chunk)))
        vault.destroy(conn, chunk)  # whatever these keys sealed, wherever copied, is unreadable now
    record_audit(conn, "purge", {"kind": "named", "as_of": as_of.isoformat(), "pupils": len(keys),
                                 "by_rule": dict(sorted(Counter(rules.values()).items())),
                                 "rows_removed": dict(sorted(rows_removed.items()))},
                 actor=actor, school_urn=urn, run_id=run_id)


def _unnamed_records(conn: Connection, urn: str, keys: list[str], rules: dict[str, str], years: dict[str, str],
                     as_of: date) -> list[dict]:
    """What the contract lets us keep about each pupil once un-named: figures, never identity."""
    details_table = DATASET_TABLES["pupil_details"]
    attendance_table = DATASET_TABLES["attendance_sessions"]
    results_table = DATASET_TABLES["assessment_results"]
    base = {row.pupil_key: row for row in conn.execute(
        select(pupils.c.pupil_key, pupils.c.nc_year, pupils.c.sex).where(pupils.c.pupil_key.in_(keys)))}
    details = {row.pupil_key: row for row in conn.execute(select(details_table).where(details_table.c.pupil_key.in_(keys)))}
    marks: dict[str, dict[str, int]] = defaultdict(dict)
    for key, mark, count in conn.execute(select(attendance_table.c.pupil_key, attendance_table.c.mark, func.count())
                                         .where(attendance_table.c.pupil_key.in_(keys))
                                         .group_by(attendance_table.c.pupil_key, attendance_table.c.mark)):
        marks[key][mark] = count
    results: dict[str, list] = defaultdict(list)
    for row in conn.execute(select(results_table.c.pupil_key, results_table.c.aspect_name, results_table.c.result_set_name,
                                   results_table.c.result).where(results_table.c.pupil_key.in_(keys))):
        results[row.pupil_key].append([row.aspect_name, row.result_set_name, row.result])
    records = []
    for key in keys:
        if key not in base:
            continue
        detail = details.get(key)
        records.append(dict(
            school_urn=urn, academic_year=years[key], nc_year=base[key].nc_year,
            sex=base[key].sex, sen_status=detail.sen_status if detail else None,
            fsm_eligible=detail.fsm_eligible if detail else None, pupil_premium=detail.pupil_premium if detail else None,
            eal=detail.eal if detail else None, attendance=json.dumps(dict(sorted(marks[key].items()))),
            results=json.dumps(sorted(results[key])), rule=rules[key], unnamed_on=as_of,
        ))
    return records


def _purge_ended_subscriptions(conn: Connection, vault: Vault, as_of: date, actor: str, run_id: str | None) -> None:
    """Schools whose subscription ended 6 months ago: whatever else named they left (quarantined
    records, their school key, cursors) goes too."""
    ended = [row.urn for row in conn.execute(select(schools.c.urn, schools.c.subscription_end)
                                             .where(schools.c.subscription_end.is_not(None)))
             if is_due(Due(RULE_SUBSCRIPTION, row.subscription_end, row.subscription_end + NAMED_PERIOD), as_of)]
    for urn in ended:
        removed = conn.execute(delete(quarantine).where(quarantine.c.school_urn == urn)).rowcount
        keys = vault.destroy(conn, [school_key_ref(urn)])
        conn.execute(delete(sync_state).where(sync_state.c.school_urn == urn))
        if removed or keys:
            record_audit(conn, "purge", {"kind": "subscription_ended", "as_of": as_of.isoformat(),
                                         "quarantined_records_removed": removed}, actor=actor, school_urn=urn, run_id=run_id)


def _destroy_orphan_keys(conn: Connection, vault: Vault) -> int:
    """Data keys that seal nothing any more (a quarantined record that never landed and has left
    quarantine) are destroyed rather than kept."""
    orphan = select(data_keys.c.key_ref).where(
        ~data_keys.c.key_ref.like("school:%"),
        ~exists().where(pupils.c.pupil_key == data_keys.c.key_ref),
        ~exists().where(quarantine.c.key_ref == data_keys.c.key_ref),
    )
    return vault.destroy(conn, list(conn.execute(orphan).scalars()))


def purge_unnamed(engine: Engine, as_of: date, actor: str, run_id: str | None = None) -> dict[str, int]:
    """Delete un-named records, and change sets, 5 years after they were made; returns counts."""
    with engine.begin() as conn:
        old_records = [row.id for row in conn.execute(select(unnamed_pupils.c.id, unnamed_pupils.c.unnamed_on))
                       if as_of >= unnamed_due(row.unnamed_on)]
        records = _delete_ids(conn, unnamed_pupils, old_records)
        old_sets = [row.id for row in conn.execute(select(change_sets.c.id, change_sets.c.created_at))
                    if as_of >= unnamed_due(london_date(row.created_at))]
        for start in range(0, len(old_sets), _CHUNK):
            conn.execute(delete(pupil_changes).where(pupil_changes.c.change_set_id.in_(old_sets[start:start + _CHUNK])))
        sets = _delete_ids(conn, change_sets, old_sets)
        counts = {"unnamed_records": records, "change_sets": sets}
        if records or sets:
            record_audit(conn, "purge", {"kind": "unnamed", "as_of": as_of.isoformat(), **counts}, actor=actor,
                         run_id=run_id)
    return counts


def _delete_ids(conn: Connection, table, ids: list[int]) -> int:
    return sum(conn.execute(delete(table).where(table.c.id.in_(ids[i:i + _CHUNK]))).rowcount
               for i in range(0, len(ids), _CHUNK))


@dataclass(frozen=True)
class ScheduleSummary:
    pupils: int
    due_now: dict[str, int]  # by rule: named data that must go today or is already late
    due_soon: dict[str, int]  # by rule: due within the warning window
    no_rule: int  # pupils no rule can reach yet
    schools_without_final_year: list[str]


def refresh_schedule(engine: Engine, today: date, warning_days: int = 30) -> ScheduleSummary:
    """Replace the retention schedule with every named pupil's rule, trigger and due date."""
    due_now: Counter = Counter()
    due_soon: Counter = Counter()
    rows, no_rule = [], 0
    horizon = date.fromordinal(today.toordinal() + warning_days)
    for pupil in due_pupils(engine, today):
        due = pupil.due
        rows.append(dict(pupil_key=pupil.pupil_key, school_urn=pupil.school_urn, rule=due.rule if due else None,
                         trigger_on=due.trigger if due else None, due_on=due.due if due else None, computed_on=today))
        if due is None:
            no_rule += 1
        elif due.due <= today:
            due_now[due.rule] += 1
        elif due.due <= horizon:
            due_soon[due.rule] += 1
    with engine.begin() as conn:
        conn.execute(delete(retention_schedule))
        for start in range(0, len(rows), 5000):
            conn.execute(insert(retention_schedule), rows[start:start + 5000])
        unknown = sorted(urn for urn, facts in school_facts(conn, today).items() if facts.final_year is None)
    return ScheduleSummary(len(rows), dict(sorted(due_now.items())), dict(sorted(due_soon.items())), no_rule, unknown)


def due_within(engine: Engine, today: date, days: int) -> list[dict]:
    """The early warning: per school and rule, pupils whose named data is due within `days`."""
    horizon = date.fromordinal(today.toordinal() + days)
    counts: Counter = Counter()
    first: dict[tuple[str, str], date] = {}
    for pupil in due_pupils(engine, today):
        if pupil.due is not None and pupil.due.due <= horizon:
            key = (pupil.school_urn, pupil.due.rule)
            counts[key] += 1
            first[key] = min(first.get(key, pupil.due.due), pupil.due.due)
    return [{"urn": urn, "rule": rule, "pupils": n, "first_due": first[urn, rule].isoformat(),
             "overdue": first[urn, rule] <= today} for (urn, rule), n in sorted(counts.items())]


def named_past_deadline(engine: Engine, as_of: date) -> int:
    """Named pupils whose due date is on or before `as_of` and who are still held: must be 0."""
    return sum(1 for pupil in due_pupils(engine, as_of) if is_due(pupil.due, as_of))


def unnamed_past_deadline(engine: Engine, as_of: date) -> int:
    with engine.connect() as conn:
        return sum(1 for (day,) in conn.execute(select(unnamed_pupils.c.unnamed_on)) if as_of >= unnamed_due(day))
