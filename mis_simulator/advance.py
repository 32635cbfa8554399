"""Move a simulated population forward in time: the changes a pipeline's next delta must pick up.

`advance(population)` is one step. For every approved school (or the first `max_schools` of
them, by position) it deterministically:

- adds 1-2 new pupils (new Wonde id, upi and mis_id; the first arrives with a *temporary* UPN,
  as a joiner whose previous school's CTF has not come yet, domain.md §1.3);
- changes one pupil's `surname`;
- makes one pupil a leaver (`leaving_date` set, moved from `school.pupils` to `school.leavers`);
- deletes one pupil (removed, with a `Deletion` row in `population.deletions`);
- from the second step on, restores one pupil deleted in an earlier step: re-enrolled under a NEW
  Wonde id with the SAME upi and mis_id, and the deletion gets `restored_at` (connectors.md §1.6);
- replaces one pupil's temporary UPN by a permanent one, keeping the old one as `former_upn`.
  A school with no temporary UPN on roll (only possible before its first step has added one)
  gets the pair made up: that pupil's earlier permanent UPN is dropped for a fresh
  temporary (former) and permanent pair.

Every new or changed record gets `updated_at = at`. The RNG is seeded from (population seed, step
number), so the same population advanced at the same `at` changes identically. `at` defaults to
the real UTC time because the pipeline's cursors are wall-clock based.

After advancing a population that a `SimulatorServer` serves, its caches must be dropped:
`SimulatorServer.advance()` and `POST /_sim/advance` do both; otherwise call
`server.invalidate_cache()` yourself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mis_pipeline.lib.upn import is_temporary_upn, make_temporary_upn, make_upn
from mis_simulator import names
from mis_simulator.population import (
    ACADEMIC_YEAR,
    Deletion,
    Population,
    Pupil,
    School,
    _Builder,
    birth_window,
    defect_of,
    nc_year_number,
)

KINDS = ("new", "changed", "left", "deleted", "restored", "upn_replaced")


@dataclass
class SchoolChanges:
    """What one step changed at one school, by MIS id (`Pupil.mis_id`).

    `changed` maps every continuing on-roll pupil whose fields changed to the sorted field names
    (`["surname"]`, or `["former_upn", "upn"]` for a UPN replacement), so `upn_replaced` is a
    subset of its keys. `new`, `restored`, `left` and `deleted` are disjoint from it and from
    each other. A Wonde `students?updated_after=<before at>` returns exactly `delta_mis_ids()`.
    """

    urn: str
    new: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    upn_replaced: list[str] = field(default_factory=list)

    def delta_mis_ids(self) -> set[str]:
        """On-roll pupils whose `updated_at` is now `at`: new, changed (incl. UPN replaced), restored."""
        return set(self.new) | set(self.changed) | set(self.restored) | set(self.upn_replaced)

    def to_json(self) -> dict:
        return {
            "new": list(self.new),
            "changed": {key: list(value) for key, value in self.changed.items()},
            "left": list(self.left),
            "deleted": list(self.deleted),
            "restored": list(self.restored),
            "upn_replaced": list(self.upn_replaced),
        }


@dataclass
class ChangeLog:
    """One `advance` step: its time, its step number and the changes per school URN."""

    at: datetime
    step: int
    schools: dict[str, SchoolChanges] = field(default_factory=dict)  # by URN

    def to_json(self) -> dict:
        """`{"at": ISO 8601 UTC, "step": n, "schools": {urn: {"new": [mis_id...], "changed":
        {mis_id: [field...]}, "left": [...], "deleted": [...], "restored": [...],
        "upn_replaced": [...]}}}` — URNs, MIS ids and field names only, never pupil values."""
        return {
            "at": self.at.isoformat(),
            "step": self.step,
            "schools": {urn: changes.to_json() for urn, changes in self.schools.items()},
        }


def advance(
    population: Population, *, at: datetime | None = None, seed_step: int = 1, max_schools: int | None = None
) -> ChangeLog:
    """Advance `population` to `at` (default: now, UTC) and return what changed.

    The step number becomes `population.steps + seed_step` and seeds the RNG (with the population
    seed). `at` must be timezone-aware and later than `population.clock`, which it becomes.
    `max_schools` limits the step to the first that many approved schools."""
    if at is None:
        at = datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` must be timezone-aware")
    at = at.astimezone(UTC)
    if at <= population.clock:
        raise ValueError(
            f"`at` ({at.isoformat()}) must be later than the population clock "
            f"({population.clock.isoformat()})"
        )
    if seed_step < 1:
        raise ValueError("seed_step must be at least 1")
    step = population.steps + seed_step
    stepper = _Stepper(population, step, at)
    log = ChangeLog(at=at, step=step)
    schools = population.approved_schools()
    if max_schools is not None:
        schools = schools[:max_schools]
    for school in schools:
        log.schools[school.urn] = stepper.advance_school(school)
    population.steps = step
    population.clock = at
    return log


class _Stepper:
    def __init__(self, population: Population, step: int, at: datetime) -> None:
        self.population = population
        self.at = at
        self.builder = _Builder(f"{population.seed}:advance:{step}")  # its RNG, names and id helpers
        records = list(_all_records(population))
        self.builder.last_id = max(
            int(record_id[1:])
            for record_id in [school.id for school in population.schools]
            + [p.id for p in records]
            + [d.id for d in population.deletions]
        )
        self.used_upns = {p.upn for p in records} | {p.former_upn for p in records if p.former_upn}
        self.used_upis = {p.upi for p in records}

    # -- one school ----------------------------------------------------------------------------
    def advance_school(self, school: School) -> SchoolChanges:
        rng, at = self.builder.rng, self.at
        changes = SchoolChanges(urn=school.urn)
        pupils = list(school.pupils)
        # Pick distinct pupils first: UPN replacement, then surname change, leaver, deletion.
        # A bad record (`add_bad_records`) keeps its defect: replacing its UPN would hide one.
        sound = [p for p in pupils if defect_of(p) is None]
        temporaries = [p for p in sound if is_temporary_upn(p.upn)]
        upn_pupil = self.pick(temporaries) if temporaries else self.pick(sound)
        rest = [p for p in pupils if p is not upn_pupil]
        surname_pupil, leaver, deleted = (
            rest[i] if i < len(rest) else None for i in _distinct(rng, len(rest), 3)
        )

        if upn_pupil is not None:
            if not is_temporary_upn(upn_pupil.upn):  # no temporary UPN on roll: make the pair up
                upn_pupil.upn = self.temporary_upn(school)
            upn_pupil.former_upn = upn_pupil.upn
            issue_year = ACADEMIC_YEAR - max(nc_year_number(upn_pupil.current_nc_year), 0)
            upn_pupil.upn = self.permanent_upn(school, issue_year)
            upn_pupil.updated_at = at
            changes.changed[upn_pupil.mis_id] = ["former_upn", "upn"]
            changes.upn_replaced.append(upn_pupil.mis_id)
        if surname_pupil is not None:
            surname_pupil.surname = self.new_surname(surname_pupil.surname)
            surname_pupil.updated_at = at
            changes.changed[surname_pupil.mis_id] = ["surname"]
        if leaver is not None:
            leaver.leaving_date = max(
                at.date() - timedelta(days=self.builder.below(4)), leaver.admission_date
            )
            leaver.updated_at = at
            changes.left.append(leaver.mis_id)
        if deleted is not None:
            self.population.deletions.append(
                Deletion(
                    type="student",
                    id=deleted.id,
                    mis_id=deleted.mis_id,
                    upi=deleted.upi,
                    deleted_at=at,
                    restored_at=None,
                    school_id=school.id,
                    pupil=dataclasses.replace(deleted),
                )
            )
            changes.deleted.append(deleted.mis_id)

        gone = {id(p) for p in (leaver, deleted) if p is not None}
        pupils = [p for p in pupils if id(p) not in gone]
        next_mis_id = 1 + max((int(mis_id) for mis_id in self.school_mis_ids(school)), default=999)
        for k in range(1 + self.builder.below(2)):
            pupil = self.new_pupil(school, str(next_mis_id + k), temporary_upn=k == 0)
            pupils.append(pupil)
            changes.new.append(pupil.mis_id)
        restorable = [
            d for d in self.population.deletions_for(school) if d.restored_at is None and d.deleted_at < at
        ]
        if restorable:
            deletion = self.pick(restorable)
            deletion.restored_at = at
            pupils.append(
                dataclasses.replace(deletion.pupil, id=self.builder.wonde_id(), created_at=at, updated_at=at)
            )
            changes.restored.append(deletion.mis_id)

        # Swap whole lists, so a request being served meanwhile sees the old state or the new.
        if leaver is not None:
            school.leavers = school.leavers + [leaver]
        school.pupils = pupils
        return changes

    # -- helpers -------------------------------------------------------------------------------
    def pick(self, options: list):
        return self.builder.pick(options) if options else None

    def school_mis_ids(self, school: School):
        yield from (p.mis_id for p in school.pupils)
        yield from (p.mis_id for p in school.leavers)
        yield from (d.mis_id for d in self.population.deletions_for(school))

    def new_surname(self, current: str) -> str:
        while True:
            surname = self.builder.pick(names.SURNAMES)
            if surname != current:
                return surname

    def new_pupil(self, school: School, mis_id: str, temporary_upn: bool) -> Pupil:
        builder, at = self.builder, self.at
        nc_year = builder.pick(school.nc_years)
        born_from, _ = birth_window(nc_year)
        male = builder.rng.random() < 0.5
        legal_forename, legal_surname, middle, forename, surname = builder.names_for(male)
        while True:
            upi = f"{builder.rng.getrandbits(128):032x}"
            if upi not in self.used_upis:
                self.used_upis.add(upi)
                break
        issue_year = ACADEMIC_YEAR - max(nc_year_number(nc_year), 0)
        return Pupil(
            id=builder.wonde_id(),
            upi=upi,
            mis_id=mis_id,
            legal_forename=legal_forename,
            legal_surname=legal_surname,
            forename=forename,
            surname=surname,
            middle_names=middle,
            gender="MALE" if male else "FEMALE",
            date_of_birth=date.fromordinal(born_from.toordinal() + builder.below(365)),
            current_nc_year=nc_year,
            upn=self.temporary_upn(school) if temporary_upn else self.permanent_upn(school, issue_year),
            former_upn=None,
            admission_date=at.date(),
            leaving_date=None,
            created_at=at,
            updated_at=at,
        )

    def permanent_upn(self, school: School, issue_year: int) -> str:
        serial = self.builder.below(1000)
        for attempt in range(100 * 1000):
            year = issue_year + attempt // 1000
            upn = make_upn(school.la_code, school.establishment_number, year, (serial + attempt) % 1000)
            if upn not in self.used_upns:
                self.used_upns.add(upn)
                return upn
        raise RuntimeError("no free permanent UPN")  # pragma: no cover - 100k UPNs per school

    def temporary_upn(self, school: School) -> str:
        serial = self.builder.below(2300)
        for attempt in range(100 * 2300):
            year = self.at.year + attempt // 2300
            upn = make_temporary_upn(
                school.la_code, school.establishment_number, year, (serial + attempt) % 2300
            )
            if upn not in self.used_upns:
                self.used_upns.add(upn)
                return upn
        raise RuntimeError("no free temporary UPN")  # pragma: no cover


def _all_records(population: Population):
    for school in population.schools:
        yield from school.pupils
        yield from school.leavers
    for deletion in population.deletions:
        yield deletion.pupil


def _distinct(rng, population_size: int, count: int) -> list[int]:
    """`count` distinct indexes below `population_size` in random order, padded with indexes past
    the end (meaning "nobody") when there are too few pupils."""
    chosen = rng.sample(range(population_size), min(count, population_size))
    return chosen + list(range(population_size, population_size + count - len(chosen)))
