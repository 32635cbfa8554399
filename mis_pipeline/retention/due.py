"""Who is due: the database selects the few pupils a rule could have reached by a day, and the pure
rules in `rules.py` decide each of them, so the daily job costs what is due, not what is held.

Candidates are a superset of the due by construction: each query bounds a trigger with the pure
rules' own arithmetic (`latest_trigger_due_by`, `completion_date`, `school_end_due`), through an
index (leaving date, deletion time, a school's NC years, a school); `retention_due` then gives
each candidate its exact rule and date. Pupils we hold no named record of (quarantined only) are
few and read whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, and_, func, select

from mis_pipeline.lib.dates import LONDON, london_date
from mis_pipeline.retention.rules import (
    NAMED_PERIOD,
    NC_YEAR_CODES,
    Due,
    PupilTimeline,
    completion_date,
    final_year_group,
    latest_trigger_due_by,
    retention_due,
    school_end_due,
    unidentified_due,
)
from mis_pipeline.retention.subjects import SCHOOL_KEY_PREFIX
from mis_pipeline.warehouse.schema import (
    DATASET_TABLES,
    data_keys,
    gias_establishments,
    pupils,
    quarantine,
    schools,
    sync_state,
)

_CHUNK = 1000


@dataclass(frozen=True)
class SchoolFacts:
    final_year: int | None
    subscription_end: date | None
    access_ended_on: date | None
    agreement_withdrawn_on: date | None
    observed_on: date  # the last day the school told us its pupils' NC years (its last sync)

    @property
    def end(self) -> Due | None:
        return school_end_due(self.subscription_end, self.access_ended_on, self.agreement_withdrawn_on)


@dataclass(frozen=True)
class DueSubject:
    pupil_key: str
    school_urn: str
    due: Due
    named: bool  # False: known only through quarantined records
    observed_on: date  # the day the school last reported the pupil's NC year


def school_facts(conn: Connection, today: date) -> dict[str, SchoolFacts]:
    """What the rules need about every school: its final year group (explicit, else from GIAS),
    its subscription end, when its connector stopped granting access, and its last sync."""
    rows = conn.execute(
        select(
            schools.c.urn,
            schools.c.final_year_group,
            schools.c.subscription_end,
            schools.c.access_ended_on,
            schools.c.agreement_withdrawn_on,
            gias_establishments.c.phase_name,
            gias_establishments.c.statutory_high_age,
            sync_state.c.last_sync_at,
        ).select_from(
            schools.outerjoin(gias_establishments, gias_establishments.c.urn == schools.c.urn).outerjoin(
                sync_state, and_(sync_state.c.school_urn == schools.c.urn, sync_state.c.dataset == "pupils")
            )
        )
    ).all()
    return {
        row.urn: SchoolFacts(
            final_year_group(row.phase_name, row.statutory_high_age, row.final_year_group),
            row.subscription_end,
            row.access_ended_on,
            row.agreement_withdrawn_on,
            london_date(row.last_sync_at) or today,
        )
        for row in rows
    }


def _facts(facts: dict[str, SchoolFacts], urn: str, today: date) -> SchoolFacts:
    return facts.get(urn) or SchoolFacts(None, None, None, None, today)


def _start_of_london_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def _completion_candidates(facts: dict[str, SchoolFacts], by: date) -> dict[tuple[str, ...], list[str]]:
    """Schools grouped by the NC years whose completion of the final key stage is due by `by`,
    from `completion_date` itself (a handful of calls per school, never per pupil)."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for urn, school in facts.items():
        codes = tuple(
            code
            for code in NC_YEAR_CODES
            if (done := completion_date(code, school.observed_on, school.final_year)) is not None
            and done + NAMED_PERIOD <= by
        )
        if codes:
            groups[codes].append(urn)
    return groups


_PUPIL_COLUMNS = (
    pupils.c.pupil_key,
    pupils.c.school_urn,
    pupils.c.leaving_date,
    pupils.c.left_informed_at,
    pupils.c.deleted_at,
    pupils.c.nc_year,
)


def _named_candidates(conn: Connection, facts: dict[str, SchoolFacts], by: date) -> dict[str, object]:
    latest = latest_trigger_due_by(by)
    ended = sorted(urn for urn, school in facts.items() if school.end is not None and school.end.due <= by)
    wheres = [
        pupils.c.deleted_at < _start_of_london_day(latest + timedelta(days=1)),
        pupils.c.leaving_date <= latest,
    ]  # the left trigger is never before the leaving date
    for codes, urns in _completion_candidates(facts, by).items():
        wheres += [
            and_(pupils.c.school_urn.in_(urns[i : i + _CHUNK]), pupils.c.nc_year.in_(codes))
            for i in range(0, len(urns), _CHUNK)
        ]
    wheres += [pupils.c.school_urn.in_(ended[i : i + _CHUNK]) for i in range(0, len(ended), _CHUNK)]
    found: dict[str, object] = {}
    for where in wheres:  # one indexed query each: an OR of them all would be read in full
        found.update((row.pupil_key, row) for row in conn.execute(select(*_PUPIL_COLUMNS).where(where)))
    return found


def _first_held(conn: Connection, keys: list[str]) -> dict[str, datetime]:
    """The earliest we held anything of each pupil: their data key, quarantined records, rows."""
    first: dict[str, datetime] = {}
    sources = [
        (data_keys.c.key_ref, data_keys.c.created_at),
        (quarantine.c.key_ref, quarantine.c.quarantined_at),
    ]
    sources += [(table.c.pupil_key, table.c.first_synced_at) for table in DATASET_TABLES.values()]
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        for key_column, when in sources:
            for key, earliest in conn.execute(
                select(key_column, func.min(when)).where(key_column.in_(chunk)).group_by(key_column)
            ):
                day = london_date(earliest)
                first[key] = min(first.get(key, day), day)
    return first


def _unidentified(
    conn: Connection, facts: dict[str, SchoolFacts], today: date, by: date
) -> Iterator[DueSubject]:
    """Pupils held only through quarantined records (no named record): their clock is the earliest
    we held anything of theirs, or the school's end."""
    held_named = select(pupils.c.pupil_key).where(pupils.c.pupil_key == quarantine.c.key_ref).exists()
    rows = conn.execute(
        select(quarantine.c.key_ref, func.min(quarantine.c.school_urn))
        .where(~quarantine.c.key_ref.like(f"{SCHOOL_KEY_PREFIX}%"), ~held_named)
        .group_by(quarantine.c.key_ref)
    ).all()
    first = _first_held(conn, [key for key, _ in rows])
    for key, urn in rows:
        school = _facts(facts, urn, today)
        due = unidentified_due(
            first[key], school.subscription_end, school.access_ended_on, school.agreement_withdrawn_on
        )
        if due.due <= by:
            yield DueSubject(key, urn, due, False, school.observed_on)


def due_subjects(
    conn: Connection, today: date, by: date, facts: dict[str, SchoolFacts] | None = None
) -> Iterator[DueSubject]:
    """Every pupil whose data must be gone by `by` (named or known only through quarantine), with
    the rule and date that apply, as `rules.py` decides them."""
    facts = facts if facts is not None else school_facts(conn, today)
    for row in _named_candidates(conn, facts, by).values():
        school = _facts(facts, row.school_urn, today)
        due = retention_due(
            PupilTimeline(
                leaving_date=row.leaving_date,
                left_informed_on=london_date(row.left_informed_at),
                deleted_on=london_date(row.deleted_at),
                nc_year=row.nc_year,
                nc_year_observed_on=school.observed_on,
                final_year=school.final_year,
                subscription_end=school.subscription_end,
                access_ended_on=school.access_ended_on,
                agreement_withdrawn_on=school.agreement_withdrawn_on,
            )
        )
        if due is not None and due.due <= by:
            yield DueSubject(row.pupil_key, row.school_urn, due, True, school.observed_on)
    yield from _unidentified(conn, facts, today, by)
