"""The simulator's other data items, derived per school from the core population.

Each pupil's additional details, attendance marks, assessment results and house/form/set come
from an RNG seeded by (population seed, school id, pupil upi), and every id derives from the pupil
(its mis_id) or from what it names (a group's kind and code), never from a running counter. So
adding, removing or restoring one pupil (`mis_simulator.advance`) leaves every other
pupil's data and ids unchanged, and rebuilding a school's datasets after an `advance` is safe.
A school's datasets are built on first use and cached by the APIs: a sync that only reads core
records (the benchmark) never pays for four million attendance marks.

Times follow what a delta must see. A pupil who arrives after the population was generated (a
joiner, or a deleted pupil restored, by `advance`) brings their history then: every record of
theirs is stamped no earlier than their record's `created_at`, so a delta asked for afterwards
returns it. Generated pupils' records keep their own times. A group is stamped with its latest
change of membership (a member arriving, leaving or deleted), so a group delta returns every
group whose members changed; and a group outlives its last member, as a MIS group does, so the
delta can say it is empty. Leavers keep their marks up to their leaving date (served
apart, as Wonde's `attendance-leavers`) and their results.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mis_simulator.population import POPULATION_CLOCK

ATTENDANCE_START = date(2026, 9, 7)  # the first full week of the autumn term 2026/27
ATTENDANCE_DAYS = 10  # school days of marks per pupil
DATASETS_UPDATED_AT = datetime(2026, 9, 21, 17, 0, tzinfo=UTC)

# Weighted towards what a register mostly shows; codes per domain.md §4 (2024 set).
ATTENDANCE_CODES = (
    ("/", 60),
    ("L", 3),
    ("I", 4),
    ("M", 1),
    ("O", 1),
    ("G", 1),
    ("N", 1),
    ("B", 1),
    ("V", 1),
    ("C2", 1),
    ("U", 1),
    ("E", 1),
    ("#", 1),
    ("-", 1),
)
PM_PRESENT = "\\"  # the afternoon present mark; must survive JSON escaping
SEN_STATUSES = (("N", 84), ("K", 13), ("E", 3))
FIRST_LANGUAGES = (
    ("ENG", 80),
    ("POL", 4),
    ("URD", 4),
    ("PAN", 2),
    ("BEN", 2),
    ("SOM", 2),
    ("ARA", 2),
    ("POR", 2),
    ("RUM", 2),
)
ETHNICITIES = (
    ("WBRI", 65),
    ("WIRI", 2),
    ("WROM", 1),
    ("WOTH", 6),
    ("MWBC", 3),
    ("AIND", 4),
    ("APKN", 5),
    ("BAFR", 5),
    ("CHNE", 2),
    ("MOTH", 3),
    ("REFU", 4),
)
HOUSES = ("Brunel", "Curie", "Darwin", "Franklin", "Seacole")
PRIMARY_ASPECTS = (
    ("Reading", ("WTS", "EXS", "GDS")),
    ("Writing", ("WTS", "EXS", "GDS")),
    ("Maths", ("WTS", "EXS", "GDS")),
)
SECONDARY_ASPECTS = (
    ("English", tuple("123456789")),
    ("Maths", tuple("123456789")),
    ("Science", tuple("123456789")),
)
RESULT_SETS = (("2025/26 Summer", date(2026, 7, 10)), ("2026/27 Autumn 1", date(2026, 10, 16)))


@dataclass(slots=True)
class PupilDetails:
    sen_status: str  # census SEN provision: N, K, E
    fsm_eligible: bool
    pupil_premium: bool
    eal: bool
    first_language: str  # census language code
    ethnicity: str  # census extended ethnicity code
    in_care: bool
    updated_at: datetime


@dataclass(slots=True)
class AttendanceMark:
    id: str
    pupil_id: str  # the pupil's Wonde id
    mis_id: str
    date: date
    session: str  # AM | PM
    code: str
    updated_at: datetime


@dataclass(slots=True)
class Aspect:
    id: str
    name: str


@dataclass(slots=True)
class ResultSet:
    id: str
    name: str


@dataclass(slots=True)
class AssessmentResult:
    id: str
    pupil_id: str
    mis_id: str
    aspect_id: str
    result_set_id: str
    result: str
    result_date: date
    updated_at: datetime


@dataclass(slots=True)
class Group:
    id: str
    code: str
    name: str
    type: str  # year | registration | house | teaching
    member_ids: list[str] = field(default_factory=list)  # pupils' Wonde ids
    updated_at: datetime = DATASETS_UPDATED_AT


@dataclass
class SchoolDatasets:
    details: dict[str, PupilDetails]  # by pupil Wonde id
    attendance: list[AttendanceMark]
    aspects: list[Aspect]
    result_sets: list[ResultSet]
    results: list[AssessmentResult]
    groups: list[Group]
    # pupil Wonde id -> kind ("year", "registration", "house", "teaching") -> the pupil's group
    # (its first of a kind); leavers included, with their last groups.
    memberships: dict[str, dict[str, Group]] = field(default_factory=dict)
    # Leavers' marks up to their leaving date: Wonde serves them at `attendance-leavers/session`,
    # XoD with `includeLeavers`; never among the on-roll `attendance`.
    leaver_attendance: list[AttendanceMark] = field(default_factory=list)


def school_days(start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


# Every NC year a school can offer, in order: a year's position numbers its groups.
ALL_NC_YEARS = ("N1", "N2", "R") + tuple(str(n) for n in range(1, 14))
GROUP_KINDS = {"year": 1, "registration": 2, "house": 3, "teaching": 4}
FORMS = "ABC"
SUBJECTS = ("Ma", "En")


def _cumulative(options: tuple) -> tuple[tuple, list[int]]:
    values, total, cumulative = tuple(o for o, _ in options), 0, []
    for _, weight in options:
        total += weight
        cumulative.append(total)
    return values, cumulative


_SEN, _LANGUAGES, _ETHNICITIES, _CODES = (
    _cumulative(options) for options in (SEN_STATUSES, FIRST_LANGUAGES, ETHNICITIES, ATTENDANCE_CODES)
)


def pupil_rng(seed: int, school, pupil) -> random.Random:
    """The pupil's own RNG: their data never depends on who else is on roll."""
    return random.Random(f"{seed}:{school.id}:{pupil.upi}")


def group_id(school_id: str, kind: str, code: str) -> str:
    """A group's id from what it is (kind and code), so it survives any change of membership.
    The last six digits are unique per school: kind, NC year position, then form/house/set."""
    if kind == "house":
        number = HOUSES.index(next(h for h in HOUSES if h[:3].upper() == code))
    else:
        year = next(y for y in sorted(ALL_NC_YEARS, key=len, reverse=True) if code.startswith(y))
        rest = code[len(year) :]
        if kind == "year":
            sub = 0
        elif kind == "registration":
            sub = FORMS.index(rest)
        else:  # teaching: subject then set, e.g. "10Ma2"
            sub = 10 * (SUBJECTS.index(rest[:2]) + 1) + int(rest[2:])
        number = ALL_NC_YEARS.index(year) * 1000 + sub
    return f"GR{school_id[1:]}{GROUP_KINDS[kind] * 100000 + number:06d}"


def _year_name(year: str) -> str:
    return "Reception" if year == "R" else (f"Nursery {year[1:]}" if year.startswith("N") else f"Year {year}")


@dataclass(slots=True)
class _PupilDraw:
    details: PupilDetails
    memberships: list[tuple[str, str, str]]  # (kind, code, name)
    rng: random.Random  # positioned after the details and memberships: marks, then results


def arrival(pupil) -> datetime | None:
    """When the pupil's record reached the MIS feed, if after the population was generated."""
    return pupil.created_at if pupil.created_at >= POPULATION_CLOCK else None


def _stamp(natural: datetime, pupil) -> datetime:
    """A record's updated_at: its natural time, or the pupil's arrival if that is later."""
    arrived = arrival(pupil)
    return natural if arrived is None or arrived <= natural else arrived


def _draw(seed: int, school, pupil, secondary: bool) -> _PupilDraw:
    rng = pupil_rng(seed, school, pupil)
    random_ = rng.random
    fsm = random_() < 0.24
    language = rng.choices(_LANGUAGES[0], cum_weights=_LANGUAGES[1])[0]
    details = PupilDetails(
        sen_status=rng.choices(_SEN[0], cum_weights=_SEN[1])[0],
        fsm_eligible=fsm,
        pupil_premium=fsm or random_() < 0.04,
        eal=language != "ENG",
        first_language=language,
        ethnicity=rng.choices(_ETHNICITIES[0], cum_weights=_ETHNICITIES[1])[0],
        in_care=random_() < 0.01,
        updated_at=_stamp(DATASETS_UPDATED_AT, pupil),
    )
    year = pupil.current_nc_year
    form = FORMS[int(random_() * len(FORMS))]
    house = HOUSES[int(random_() * len(HOUSES))]
    memberships = [
        ("year", year, _year_name(year)),
        ("registration", f"{year}{form}", f"{year}{form}"),
        ("house", house[:3].upper(), house),
    ]
    if secondary:
        for subject in SUBJECTS:
            setting = 1 + int(random_() * 3)
            memberships.append(("teaching", f"{year}{subject}{setting}", f"{year} {subject} set {setting}"))
    return _PupilDraw(details, memberships, rng)


class _Groups:
    """The school's groups by id, each stamped with its latest membership change."""

    def __init__(self, school_id: str) -> None:
        self.school_id = school_id
        self.by_id: dict[str, Group] = {}

    def touch(self, kind: str, code: str, name: str, when: datetime | None) -> Group:
        """The group, created if new, its time moved to `when` (None: a generated member)."""
        gid = group_id(self.school_id, kind, code)
        group = self.by_id.get(gid)
        if group is None:
            group = self.by_id[gid] = Group(gid, code, name, kind)
        if when is not None and when > group.updated_at:
            group.updated_at = when
        return group

    def sorted(self) -> list[Group]:
        return sorted(self.by_id.values(), key=lambda group: group.id)


def datasets_for(population, school) -> SchoolDatasets:
    """`build_school_datasets` for a school of `population`, its deletions included."""
    return build_school_datasets(population.seed, school, deletions=population.deletions_for(school))


def build_school_datasets(
    seed: int, school, attendance_days: int = ATTENDANCE_DAYS, deletions: Iterable = ()
) -> SchoolDatasets:
    """Everything but the core records for one school, deterministic for (seed, school id) and,
    per pupil, for the pupil's upi alone. Leavers (`school.leavers`) keep details, results and
    marks up to their leaving date (in `leaver_attendance`) and their last groups in
    `memberships` (for XoD's leaver rows), but are no group's members. `deletions` (the school's
    `Deletion` rows) only move the times of the groups their pupils left."""
    secondary = school.phase_of_education != "PRIMARY"
    prefix = school.id[1:]
    aspects = [
        Aspect(f"AS{prefix}{n:06d}", name)
        for n, (name, _) in enumerate(SECONDARY_ASPECTS if secondary else PRIMARY_ASPECTS, 1)
    ]
    result_sets = [ResultSet(f"RS{prefix}{n:06d}", name) for n, (name, _) in enumerate(RESULT_SETS, 1)]
    grades = dict(SECONDARY_ASPECTS if secondary else PRIMARY_ASPECTS)
    result_dates = dict(RESULT_SETS)
    days = school_days(ATTENDANCE_START, attendance_days)
    details: dict[str, PupilDetails] = {}
    memberships: dict[str, dict[str, Group]] = {}
    groups = _Groups(school.id)
    marks: list[AttendanceMark] = []
    leaver_marks: list[AttendanceMark] = []
    results: list[AssessmentResult] = []
    for pupil in school.pupils:
        draw = _draw(seed, school, pupil, secondary)
        details[pupil.id] = draw.details
        joined = memberships[pupil.id] = {}
        for kind, code, name in draw.memberships:
            group = groups.touch(kind, code, name, arrival(pupil))
            group.member_ids.append(pupil.id)
            joined.setdefault(kind, group)
        marks.extend(_attendance(draw.rng, prefix, pupil, days))
        results.extend(_results(draw.rng, prefix, pupil, aspects, result_sets, grades, result_dates))
    for pupil in school.leavers:
        draw = _draw(seed, school, pupil, secondary)
        details[pupil.id] = draw.details
        joined = memberships[pupil.id] = {}
        for kind, code, name in draw.memberships:
            # A leaver's record last changed when they left (`advance` stamps it so).
            joined.setdefault(kind, groups.touch(kind, code, name, pupil.updated_at))
        # Marks before results, as on roll: the pupil's RNG then draws the same results.
        leaver_marks.extend(
            mark for mark in _attendance(draw.rng, prefix, pupil, days) if mark.date <= pupil.leaving_date
        )
        results.extend(_results(draw.rng, prefix, pupil, aspects, result_sets, grades, result_dates))
    for deletion in deletions:
        for kind, code, name in _draw(seed, school, deletion.pupil, secondary).memberships:
            groups.touch(kind, code, name, deletion.deleted_at)
    return SchoolDatasets(
        details=details,
        attendance=marks,
        aspects=aspects,
        result_sets=result_sets,
        results=results,
        groups=groups.sorted(),
        memberships=memberships,
        leaver_attendance=leaver_marks,
    )


def _attendance(rng: random.Random, prefix: str, pupil, days: list[date]) -> list[AttendanceMark]:
    codes = rng.choices(_CODES[0], cum_weights=_CODES[1], k=2 * len(days))
    marks = []
    for d, day in enumerate(days):
        updated_at = _stamp(datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=17), pupil)
        for s, session in enumerate(("AM", "PM")):
            code = codes[2 * d + s]
            marks.append(
                AttendanceMark(
                    id=f"AT{prefix}{pupil.mis_id}{2 * d + s:03d}",
                    pupil_id=pupil.id,
                    mis_id=pupil.mis_id,
                    date=day,
                    session=session,
                    code=PM_PRESENT if (code == "/" and session == "PM") else code,
                    updated_at=updated_at,
                )
            )
    return marks


def _results(
    rng: random.Random, prefix: str, pupil, aspects, result_sets, grades, dates
) -> list[AssessmentResult]:
    results = []
    for r, result_set in enumerate(result_sets):
        result_date = dates[result_set.name]
        updated_at = _stamp(
            datetime.combine(result_date, datetime.min.time(), UTC) + timedelta(hours=18), pupil
        )
        for a, aspect in enumerate(aspects):
            options = grades[aspect.name]
            results.append(
                AssessmentResult(
                    id=f"AR{prefix}{pupil.mis_id}{r * len(aspects) + a:02d}",
                    pupil_id=pupil.id,
                    mis_id=pupil.mis_id,
                    aspect_id=aspect.id,
                    result_set_id=result_set.id,
                    result=options[int(rng.random() * len(options))],
                    result_date=result_date,
                    updated_at=updated_at,
                )
            )
    return results
