"""The simulator's other data items, derived per school from the core population.

Each school's additional details, attendance marks, assessment results and groups come from an
RNG seeded by (population seed, school id), built on first use and cached: a sync that only reads
core records (the benchmark) never pays for four million attendance marks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

ATTENDANCE_START = date(2026, 9, 7)  # the first full week of the autumn term 2026/27
ATTENDANCE_DAYS = 10  # school days of marks per pupil
DATASETS_UPDATED_AT = datetime(2026, 9, 21, 17, 0, tzinfo=timezone.utc)

# Weighted towards what a register mostly shows; codes per domain.md §4 (2024 set).
ATTENDANCE_CODES = (("/", 60), ("L", 3), ("I", 4), ("M", 1), ("O", 1), ("G", 1), ("N", 1),
                    ("B", 1), ("V", 1), ("C2", 1), ("U", 1), ("E", 1), ("#", 1), ("-", 1))
PM_PRESENT = "\\"  # the afternoon present mark; must survive JSON escaping
SEN_STATUSES = (("N", 84), ("K", 13), ("E", 3))
FIRST_LANGUAGES = (("ENG", 80), ("POL", 4), ("URD", 4), ("PAN", 2), ("BEN", 2), ("SOM", 2), ("ARA", 2),
                   ("POR", 2), ("RUM", 2))
ETHNICITIES = (("WBRI", 65), ("WIRI", 2), ("WROM", 1), ("WOTH", 6), ("MWBC", 3), ("AIND", 4),
               ("APKN", 5), ("BAFR", 5), ("CHNE", 2), ("MOTH", 3), ("REFU", 4))
HOUSES = ("Brunel", "Curie", "Darwin", "Franklin", "Seacole")
PRIMARY_ASPECTS = (("Reading", ("WTS", "EXS", "GDS")), ("Writing", ("WTS", "EXS", "GDS")),
                   ("Maths", ("WTS", "EXS", "GDS")))
SECONDARY_ASPECTS = (("English", tuple("123456789")), ("Maths", tuple("123456789")),
                     ("Science", tuple("123456789")))
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


def school_days(start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


class _Drawer:
    def __init__(self, seed: int, school_id: str) -> None:
        self.rng = random.Random(f"{seed}:datasets:{school_id}")
        self.school_id = school_id
        self.counter = 0

    def weighted(self, options: tuple) -> str:
        return self.rng.choices([o for o, _ in options], [w for _, w in options])[0]

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.school_id[1:]}{self.counter:06d}"


def build_school_datasets(seed: int, school, attendance_days: int = ATTENDANCE_DAYS) -> SchoolDatasets:
    """Everything but the core records for one school, deterministic for (seed, school id)."""
    draw = _Drawer(seed, school.id)
    details = {p.id: _details(draw) for p in school.pupils}
    secondary = school.phase_of_education != "PRIMARY"
    aspects = [Aspect(draw.next_id("AS"), name) for name, _ in (SECONDARY_ASPECTS if secondary else PRIMARY_ASPECTS)]
    result_sets = [ResultSet(draw.next_id("RS"), name) for name, _ in RESULT_SETS]
    return SchoolDatasets(
        details=details,
        attendance=_attendance(draw, school.pupils, school_days(ATTENDANCE_START, attendance_days)),
        aspects=aspects,
        result_sets=result_sets,
        results=_results(draw, school.pupils, aspects, result_sets, secondary),
        groups=_groups(draw, school.pupils, secondary),
    )


def _details(draw: _Drawer) -> PupilDetails:
    random_ = draw.rng.random
    fsm = random_() < 0.24
    return PupilDetails(
        sen_status=draw.weighted(SEN_STATUSES), fsm_eligible=fsm, pupil_premium=fsm or random_() < 0.04,
        eal=(language := draw.weighted(FIRST_LANGUAGES)) != "ENG", first_language=language,
        ethnicity=draw.weighted(ETHNICITIES), in_care=random_() < 0.01, updated_at=DATASETS_UPDATED_AT,
    )


def _attendance(draw: _Drawer, pupils, days: list[date]) -> list[AttendanceMark]:
    marks = []
    for pupil in pupils:
        for day in days:
            for session in ("AM", "PM"):
                code = draw.weighted(ATTENDANCE_CODES)
                marks.append(AttendanceMark(
                    id=draw.next_id("AT"), pupil_id=pupil.id, mis_id=pupil.mis_id, date=day, session=session,
                    code=PM_PRESENT if (code == "/" and session == "PM") else code,
                    updated_at=datetime.combine(day, datetime.min.time(), timezone.utc) + timedelta(hours=17),
                ))
    return marks


def _results(draw: _Drawer, pupils, aspects, result_sets, secondary: bool) -> list[AssessmentResult]:
    grades = dict(SECONDARY_ASPECTS if secondary else PRIMARY_ASPECTS)
    dates = dict(RESULT_SETS)
    results = []
    for pupil in pupils:
        for result_set in result_sets:
            for aspect in aspects:
                result_date = dates[result_set.name]
                results.append(AssessmentResult(
                    id=draw.next_id("AR"), pupil_id=pupil.id, mis_id=pupil.mis_id, aspect_id=aspect.id,
                    result_set_id=result_set.id, result=draw.rng.choice(grades[aspect.name]),
                    result_date=result_date,
                    updated_at=datetime.combine(result_date, datetime.min.time(), timezone.utc) + timedelta(hours=18),
                ))
    return results


def _groups(draw: _Drawer, pupils, secondary: bool) -> list[Group]:
    groups: dict[tuple[str, str], Group] = {}

    def join(kind: str, code: str, name: str, pupil_id: str) -> None:
        group = groups.get((kind, code))
        if group is None:
            group = groups[(kind, code)] = Group(draw.next_id("GR"), code, name, kind)
        group.member_ids.append(pupil_id)

    for pupil in pupils:
        year = pupil.current_nc_year
        year_name = "Reception" if year == "R" else ("Nursery" if year.startswith("N") else f"Year {year}")
        join("year", year, year_name, pupil.id)
        form = "ABC"[draw.rng.randrange(3)]
        join("registration", f"{year}{form}", f"{year}{form}", pupil.id)
        house = draw.rng.choice(HOUSES)
        join("house", house[:3].upper(), house, pupil.id)
        if secondary:
            for subject in ("Ma", "En"):
                setting = draw.rng.randrange(1, 4)
                join("teaching", f"{year}{subject}{setting}", f"{year} {subject} set {setting}", pupil.id)
    return list(groups.values())
