"""A deterministic synthetic population of schools and pupils: the simulator's ground truth.

Pure data, no HTTP. Everything comes from one `random.Random(seed)` and fixed dates, never the
wall clock, so a seed always builds the same population and tests can compare against it.
`mis_simulator.advance` later mutates it (new pupils, leavers, deletions...) at a given time.
"""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mis_pipeline.lib.upn import CHECK_ALPHABET, is_valid_upn, make_temporary_upn, make_upn
from mis_simulator import names

ACADEMIC_YEAR = 2026  # the simulated "now" is autumn term 2026/27
CLOCK_START = datetime(2026, 9, 1, tzinfo=UTC)
CLOCK_SECONDS = 61 * 86400  # created_at/updated_at fall in Sep-Oct 2026
# The simulated "now" of a freshly built population: after every generated created_at/updated_at.
# `advance` (mis_simulator.advance) moves it forward.
POPULATION_CLOCK = CLOCK_START + timedelta(seconds=CLOCK_SECONDS)
CONNECTORS = ("wonde", "xod")
LA_CODES = ("201", "210", "213", "330", "336", "371", "380", "800", "812", "856", "873", "919", "925", "937")
MIS_NAMES = ("SIMS", "Arbor", "Bromcom")
OPTIONAL_PERMISSIONS = ("students.extended.read", "attendance.read", "assessment.read", "groups.read")
ALL_PERMISSIONS = ("students.read",) + OPTIONAL_PERMISSIONS

_EARLY_YEARS = {"N1": -2, "N2": -1, "R": 0}
PRIMARY_YEARS = ("R", "1", "2", "3", "4", "5", "6")
# (phase_of_education, statutory low age, statutory high age, NC years offered)
PROFILES = (
    ("PRIMARY", 4, 11, PRIMARY_YEARS),
    ("SECONDARY", 11, 16, ("7", "8", "9", "10", "11")),
    ("SECONDARY", 11, 18, ("7", "8", "9", "10", "11", "12", "13")),
    ("PRIMARY", 3, 11, ("N2",) + PRIMARY_YEARS),
    ("ALL THROUGH", 4, 18, PRIMARY_YEARS + ("7", "8", "9", "10", "11", "12", "13")),
)
PROFILE_WEIGHTS = (6, 2, 2, 2, 1)  # primaries dominate, as in England
# Few trusts, so several schools share one (a MAT); the ’ exercises cp1252 in the GIAS extract.
TRUSTS = (
    ("2044", "Northern Lights Academy Trust"),
    ("16324", "St Bede’s Catholic Academy Trust"),
    ("4712", "Riverside Learning Partnership"),
    ("10985", "Castleton Multi Academy Trust"),
)
DIOCESES = (
    ("CE23", "Diocese of London"),
    ("CE18", "Diocese of Leicester"),
    ("RC21", "Archdiocese of Westminster"),
    ("RC05", "Archdiocese of Birmingham"),
)
# Wonde regions and their API domains (connectors.md §1.2). Every generated school is in GBR; a
# test moves one elsewhere (`SimulatorServer(regional_schools=...)`), since a school served from
# the wrong domain returns no data.
REGION_DOMAINS = {
    "GBR": "api.wonde.com",
    "AUS": "api-ap-southeast-2.wonde.com",
    "ZAF": "api-af-south-1.wonde.com",
    "USA": "api-us-west-2.wonde.com",
}
HOME_REGION = "GBR"
# Defects `bad_records` gives pupils, alternately, for the quarantine tests: values each
# connector serves identically, which the pupils contract must reject.
WRONG_UPN_CHECK_LETTER = "wrong_upn_check_letter"
MISSING_DATE_OF_BIRTH = "missing_date_of_birth"
DEFECTS = (WRONG_UPN_CHECK_LETTER, MISSING_DATE_OF_BIRTH)


@dataclass(slots=True)
class Pupil:
    id: str
    upi: str
    mis_id: str
    legal_forename: str
    legal_surname: str
    forename: str
    surname: str
    middle_names: str | None
    gender: str  # "MALE" | "FEMALE", as Wonde spells it
    date_of_birth: date | None  # None only for a `MISSING_DATE_OF_BIRTH` bad record
    current_nc_year: str
    upn: str
    former_upn: str | None
    admission_date: date
    leaving_date: date | None
    created_at: datetime  # aware UTC
    updated_at: datetime  # aware UTC


@dataclass(slots=True)
class School:
    id: str
    urn: str
    la_code: str
    establishment_number: str
    name: str
    phase_of_education: str
    statutory_low_age: int
    statutory_high_age: int
    mis: str
    approval: str  # "approved" | "pending" | "revoked"
    permissions: dict[str, bool]  # permission identity -> granted
    nc_years: tuple[str, ...]
    pupils: list[Pupil] = field(default_factory=list)
    # GIAS links (domain.md §3.2): 0 or 1 trust, 0 or 1 diocese. None = no link (GIAS writes
    # a blank trust and diocese "0000").
    trust_uid: str | None = None  # GIAS `Trusts (code)`, a 4-5 digit group UID
    trust_name: str | None = None
    diocese_code: str | None = None  # GIAS `Diocese (code)`, e.g. "CE23"
    diocese_name: str | None = None
    # Which MIS connector serves the school: "wonde" or "xod" (`connector_for`, fixed by index).
    connector: str = "wonde"
    # Pupils who have left: no longer in `pupils`, kept with `leaving_date` set. Served as
    # leavers (Wonde `students-leaver`, XoD `includeLeavers`). Empty until `advance` runs.
    leavers: list[Pupil] = field(default_factory=list)
    # The Wonde region whose domain serves the school's data (`REGION_DOMAINS`).
    region: str = HOME_REGION

    @property
    def approved(self) -> bool:
        return self.approval == "approved"


@dataclass(slots=True)
class Deletion:
    """A Wonde deletions row (connectors.md §1.6): a pupil record removed from the MIS. When the
    MIS record comes back (same `mis_id`), Wonde re-enrols it under a NEW `id` with the SAME
    `upi`, and this row gets `restored_at`."""

    type: str  # "student"
    id: str  # the deleted record's Wonde id (the restored record has another one)
    mis_id: str
    upi: str
    deleted_at: datetime  # aware UTC
    restored_at: datetime | None  # aware UTC
    school_id: str  # the Wonde id of the school it was deleted from
    pupil: Pupil = field(repr=False)  # the record as it was when deleted, for restoring it

    @property
    def updated_at(self) -> datetime:
        """The row's last change, so `updated_after`/`updated_before` filters apply to it."""
        return self.restored_at or self.deleted_at


@dataclass
class Population:
    seed: int
    schools: list[School]
    deletions: list[Deletion] = field(default_factory=list)  # every school's, oldest first
    clock: datetime = POPULATION_CLOCK  # the simulated now; `advance` moves it
    steps: int = 0  # how many `advance` steps have run (seeds each step's RNG)

    def schools_on(self, connector: str) -> list[School]:
        """Schools served by `connector` ("wonde" or "xod"), in any approval state."""
        return [school for school in self.schools if school.connector == connector]

    def deletions_for(self, school: School) -> list[Deletion]:
        return [deletion for deletion in self.deletions if deletion.school_id == school.id]

    def approved_schools(self) -> list[School]:
        return [school for school in self.schools if school.approved]

    def schools_in_state(self, approval: str) -> list[School]:
        return [school for school in self.schools if school.approval == approval]

    def school_by_id(self, school_id: str) -> School | None:
        return next((school for school in self.schools if school.id == school_id), None)

    def bad_records(self, school: School) -> dict[str, str]:
        """The school's served pupils (on roll and leavers) that carry a defect, as
        {mis_id: WRONG_UPN_CHECK_LETTER | MISSING_DATE_OF_BIRTH}. Read from the records as they
        are now, so it stays exact after `advance` (which may, say, replace a bad UPN)."""
        return {
            pupil.mis_id: defect
            for pupil in school.pupils + school.leavers
            if (defect := defect_of(pupil)) is not None
        }


def defect_of(pupil: Pupil) -> str | None:
    """Which `DEFECTS` a pupil record has, if any (a temporary UPN with a right letter is fine)."""
    if pupil.date_of_birth is None:
        return MISSING_DATE_OF_BIRTH
    if not is_valid_upn(pupil.upn):
        return WRONG_UPN_CHECK_LETTER
    return None


def approval_for(index: int) -> str:
    """Fixed by position, not by the RNG, so tests know which schools are pending or revoked."""
    if index % 11 == 10:
        return "revoked"
    if index % 7 == 6:
        return "pending"
    return "approved"


def connector_for(index: int) -> str:
    """Fixed by position, not by the RNG (adding it changed no seeded value): every third school
    (index % 3 == 2) is on XoD, so schools 0 and 1 are always on Wonde."""
    return "xod" if index % 3 == 2 else "wonde"


def xod_estab(school: School) -> str:
    """The school's XoD `estab`: LA code + establishment number, 7 digits."""
    return school.la_code + school.establishment_number


def nc_year_number(nc_year: str) -> int:
    """R is Year 0 and N2 is Year -1 (domain.md §1.5), so birth-date arithmetic stays uniform."""
    return _EARLY_YEARS[nc_year] if nc_year in _EARLY_YEARS else int(nc_year)


def birth_window(nc_year: str, academic_year: int = ACADEMIC_YEAR) -> tuple[date, date]:
    """domain.md §2.1: NC year N in the year from 1 Sep Y ⇒ born 1 Sep (Y−N−5) .. 31 Aug (Y−N−4)."""
    n = nc_year_number(nc_year)
    return date(academic_year - n - 5, 9, 1), date(academic_year - n - 4, 8, 31)


class _Builder:
    """Draws everything from one RNG. Picks use `rng.random()` arithmetic rather than
    `choice`/`randrange` because it is several times faster and 200k pupils must build in < 3 s."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.last_id = 1_000_000_000 + self.below(1_000_000_000)  # 10 digits for ~200k+ ids
        self.used_upns: set[str] = set()
        self.upn_prefixes: dict[tuple[str, str, int], tuple[str, int]] = {}

    def below(self, n: int) -> int:
        return int(self.rng.random() * n)

    def pick(self, options):
        return options[int(self.rng.random() * len(options))]

    def wonde_id(self) -> str:
        # Strictly increasing with random gaps: unique without a lookup, yet not sequential.
        self.last_id += 1 + self.below(40_000)
        return f"A{self.last_id}"

    def school(self, index: int) -> School:
        profile = PROFILES[index] if index < len(PROFILES) else self.rng.choices(PROFILES, PROFILE_WEIGHTS)[0]
        phase, low, high, years = profile
        approval = approval_for(index)
        kind = self.pick(names.SCHOOL_KINDS[phase])
        links = self.school_links(index, church_of_england="Church of England" in kind)
        return School(
            id=self.wonde_id(),
            urn=str(100000 + 37 * index + self.below(37)),
            la_code=self.pick(LA_CODES),
            # Unique per index, so (LA, establishment) and hence the UPNs it issues never clash.
            establishment_number=str((2000 if phase == "PRIMARY" else 4000) + index),
            name=f"{self.pick(names.SCHOOL_PLACES)} {kind}",
            phase_of_education=phase,
            statutory_low_age=low,
            statutory_high_age=high,
            mis=self.pick(MIS_NAMES),
            approval=approval,
            permissions=self.permissions(index, approval),
            nc_years=years,
            connector=connector_for(index),
            **links,
        )

    def school_links(self, index: int, church_of_england: bool) -> dict[str, str | None]:
        """Trust (about half of schools) and diocese (about a quarter; always a CE diocese for a
        CofE-named school). A separate RNG per school, so adding these fields left every other
        seeded value unchanged."""
        rng = random.Random(f"{self.seed}:school-links:{index}")
        trust = rng.choices(TRUSTS, (4, 3, 2, 1))[0] if rng.random() < 0.5 else (None, None)
        diocese = DIOCESES[int(rng.random() * len(DIOCESES))] if rng.random() < 0.12 else (None, None)
        if church_of_england:
            diocese = DIOCESES[int(rng.random() * 2)]
        return {
            "trust_uid": trust[0],
            "trust_name": trust[1],
            "diocese_code": diocese[0],
            "diocese_name": diocese[1],
        }

    def permissions(self, index: int, approval: str) -> dict[str, bool]:
        granted = approval == "approved"
        # Optional grants are withheld in a fixed pattern so tests can find a school lacking one.
        return {
            identity: granted and (identity == "students.read" or (index + position) % 5 != 0)
            for position, identity in enumerate(ALL_PERMISSIONS)
        }

    def names_for(self, male: bool) -> tuple[str, str, str | None, str, str]:
        random_ = self.rng.random
        pick = self.pick
        common = names.MALE_FORENAMES if male else names.FEMALE_FORENAMES
        unusual = names.NON_ASCII_MALE_FORENAMES if male else names.NON_ASCII_FEMALE_FORENAMES
        legal_forename = pick(unusual if random_() < 0.12 else common)
        legal_surname = pick(names.UNUSUAL_SURNAMES if random_() < 0.12 else names.SURNAMES)
        middle = pick(common) if random_() < 0.6 else None
        forename = (
            names.PREFERRED_FORMS.get(legal_forename, legal_forename) if random_() < 0.5 else legal_forename
        )
        surname = f"{legal_surname}-{pick(names.SURNAMES)}" if random_() < 0.03 else legal_surname
        return legal_forename, legal_surname, middle, forename, surname

    def upn(self, school: School, issue_year: int, serial: int) -> str:
        if self.rng.random() < 0.02:
            upn = make_temporary_upn(school.la_code, school.establishment_number, issue_year, serial)
        else:
            upn = self.permanent_upn(school, issue_year, serial)
        while upn in self.used_upns:  # only reachable with >1000 pupils in one cohort
            serial += 1000
            upn = make_upn(school.la_code, school.establishment_number, issue_year + serial // 1000, serial)
        self.used_upns.add(upn)
        return upn

    def permanent_upn(self, school: School, issue_year: int, serial: int) -> str:
        """Same result as `make_upn`, with the weighted sum of the fixed 9-digit prefix cached:
        `make_upn` per pupil alone would cost a third of the 3 s build budget."""
        key = (school.la_code, school.establishment_number, issue_year)
        cached = self.upn_prefixes.get(key)
        if cached is None:
            prefix = make_upn(*key, 0)[1:10]
            cached = self.upn_prefixes[key] = (prefix, sum(w * int(c) for w, c in enumerate(prefix, 2)))
        prefix, prefix_sum = cached
        serial %= 1000
        total = prefix_sum + 11 * (serial // 100) + 12 * (serial // 10 % 10) + 13 * (serial % 10)
        return f"{CHECK_ALPHABET[total % 23]}{prefix}{serial:03d}"

    def pupil(self, school: School, k: int, mis_base: int, serials: dict[int, int]) -> Pupil:
        random_ = self.rng.random
        nc_year = school.nc_years[k % len(school.nc_years)]
        number = nc_year_number(nc_year)
        years_here = number - nc_year_number(school.nc_years[0])
        if years_here and random_() < 0.15:  # a mid-phase joiner
            years_here = self.below(years_here)
        born_from = date(ACADEMIC_YEAR - number - 5, 9, 1).toordinal()
        issue_year = ACADEMIC_YEAR - max(number, 0)
        serials[issue_year] = serial = serials.get(issue_year, 0) + 1
        male = random_() < 0.5
        legal_forename, legal_surname, middle, forename, surname = self.names_for(male)
        # From 8 Sep, after every admission this term (1-7 Sep), so records never predate pupils.
        created = 7 * 86400 + self.below(CLOCK_SECONDS - 8 * 86400)
        updated = created + self.below(CLOCK_SECONDS - created)
        return Pupil(
            id=self.wonde_id(),
            upi=f"{self.rng.getrandbits(128):032x}",
            mis_id=str(mis_base + k),
            legal_forename=legal_forename,
            legal_surname=legal_surname,
            forename=forename,
            surname=surname,
            middle_names=middle,
            gender="MALE" if male else "FEMALE",
            # 365 days from 1 Sep always stays inside the window, even across a 29 Feb.
            date_of_birth=date.fromordinal(born_from + self.below(365)),
            current_nc_year=nc_year,
            upn=self.upn(school, issue_year, serial),
            former_upn=None,
            admission_date=date(ACADEMIC_YEAR - years_here, 9, 1 + self.below(7)),
            leaving_date=None,
            created_at=CLOCK_START + timedelta(seconds=created),
            updated_at=CLOCK_START + timedelta(seconds=updated),
        )

    def pupils(self, school: School, count: int) -> list[Pupil]:
        mis_base = 1000 + self.below(89000)
        serials: dict[int, int] = {}
        return [self.pupil(school, k, mis_base, serials) for k in range(count)]


def build_population(seed: int, schools: int, pupils_per_school: int, bad_records: int = 0) -> Population:
    """`schools` schools of `pupils_per_school` pupils each; identical output for an identical seed.
    `bad_records`: that many pupils per school get a defect (`add_bad_records`)."""
    builder = _Builder(seed)
    built = []
    # Hundreds of thousands of new objects trigger repeated cyclic-GC passes that find nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(schools):
            school = builder.school(index)
            school.pupils = builder.pupils(school, pupils_per_school)
            built.append(school)
    finally:
        if gc_was_enabled:
            gc.enable()
    population = Population(seed=seed, schools=built)
    add_bad_records(population, bad_records)
    return population


def add_bad_records(population: Population, per_school: int) -> None:
    """Give `per_school` pupils of every school a defect, alternately a wrong UPN check letter
    and no date of birth (`Population.bad_records` lists them). The pupils are drawn from an RNG
    of their own per school, so every other seeded value stays as it was and a seed always
    spoils the same pupils."""
    if per_school < 0:
        raise ValueError("bad_records cannot be negative")
    for school in population.schools:
        rng = random.Random(f"{population.seed}:bad-records:{school.id}")
        chosen = rng.sample(range(len(school.pupils)), min(per_school, len(school.pupils)))
        for n, index in enumerate(sorted(chosen)):
            pupil = school.pupils[index]
            if DEFECTS[n % 2] == WRONG_UPN_CHECK_LETTER:
                pupil.upn = _wrong_check_letter(pupil.upn)
            else:
                pupil.date_of_birth = None


def _wrong_check_letter(upn: str) -> str:
    """The UPN with the next letter of the check alphabet in place of the right one."""
    return CHECK_ALPHABET[(CHECK_ALPHABET.index(upn[0]) + 1) % len(CHECK_ALPHABET)] + upn[1:]
