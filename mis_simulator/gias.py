"""A GIAS `edubasealldata` extract for the simulated population (domain.md §3).

Real column names in real file order, cp1252 bytes, `dd-mm-yyyy` dates, `Diocese (code)`
"0000" and a blank trust when there is no link. A real extract lists every school in
England, so it carries every simulated school whatever its Wonde approval state, plus a
couple of schools that no MIS connector knows about.
"""

from __future__ import annotations

import csv
import io
import threading
from datetime import date, timedelta
from pathlib import Path

from mis_simulator.population import Population, School

PATH = "/gias/edubasealldata.csv"
ENCODING = "cp1252"  # GIAS publishes Windows-1252 / ISO-8859-1, never UTF-8
COLUMNS = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (code)",
    "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (code)",
    "EstablishmentTypeGroup (name)",
    "EstablishmentStatus (code)",
    "EstablishmentStatus (name)",
    "OpenDate",
    "CloseDate",
    "PhaseOfEducation (code)",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "OfficialSixthForm (code)",
    "OfficialSixthForm (name)",
    "Diocese (code)",
    "Diocese (name)",
    "TrustSchoolFlag (code)",
    "TrustSchoolFlag (name)",
    "Trusts (code)",
    "Trusts (name)",
    "UKPRN",
    "LastChangedDate",
)
LA_NAMES = {
    "201": "City of London",
    "210": "Southwark",
    "213": "Westminster",
    "330": "Birmingham",
    "336": "Wolverhampton",
    "371": "Doncaster",
    "380": "Bradford",
    "800": "Bath and North East Somerset",
    "812": "North East Lincolnshire",
    "856": "Leicester",
    "873": "Cambridgeshire",
    "919": "Hertfordshire",
    "925": "Lincolnshire",
    "937": "Warwickshire",
}
# Wonde's phase_of_education -> GIAS PhaseOfEducation (domain.md §2.3).
PHASES = {
    "NURSERY": ("1", "Nursery"),
    "PRIMARY": ("2", "Primary"),
    "SECONDARY": ("4", "Secondary"),
    "16 PLUS": ("6", "16 plus"),
    "ALL THROUGH": ("7", "All-through"),
}
NOT_APPLICABLE = ("0", "Not applicable")
NO_DIOCESE = ("0000", "Not applicable")
OPEN, CLOSED = ("1", "Open"), ("2", "Closed")
ACADEMY_CONVERTER, ACADEMIES = ("34", "Academy converter"), ("10", "Academies")
VOLUNTARY_AIDED, COMMUNITY = ("2", "Voluntary aided school"), ("1", "Community school")
LA_MAINTAINED = ("4", "Local authority maintained schools")
MAT = ("3", "Supported by a multi-academy trust")
EXTRACT_DAY = date(2026, 9, 1)  # fixed, never the wall clock, so a seed gives identical bytes


def gias_date(day: date | None) -> str:
    return day.strftime("%d-%m-%Y") if day else ""


def school_row(school: School) -> dict[str, str]:
    """One population school. Type follows the links: a trust means an academy, a diocese
    without a trust a voluntary-aided school, otherwise a community school."""
    urn = int(school.urn)
    if school.trust_uid:
        kind, group, opened = ACADEMY_CONVERTER, ACADEMIES, date(2012 + urn % 12, 9, 1)
    else:
        kind, group, opened = (VOLUNTARY_AIDED if school.diocese_code else COMMUNITY), LA_MAINTAINED, None
    row = _base_row(
        school.urn,
        school.la_code,
        school.establishment_number,
        school.name,
        PHASES.get(school.phase_of_education, NOT_APPLICABLE),
        school.statutory_low_age,
        school.statutory_high_age,
    )
    row.update(
        {
            "TypeOfEstablishment (code)": kind[0],
            "TypeOfEstablishment (name)": kind[1],
            "EstablishmentTypeGroup (code)": group[0],
            "EstablishmentTypeGroup (name)": group[1],
            "OpenDate": gias_date(opened),
            "Diocese (code)": school.diocese_code or NO_DIOCESE[0],
            "Diocese (name)": school.diocese_name or NO_DIOCESE[1],
            "TrustSchoolFlag (code)": MAT[0] if school.trust_uid else NOT_APPLICABLE[0],
            "TrustSchoolFlag (name)": MAT[1] if school.trust_uid else NOT_APPLICABLE[1],
            "Trusts (code)": school.trust_uid or "",
            "Trusts (name)": school.trust_name or "",
        }
    )
    return row


def _base_row(
    urn: str,
    la_code: str,
    establishment_number: str,
    name: str,
    phase: tuple[str, str],
    low: int,
    high: int,
    status: tuple[str, str] = OPEN,
) -> dict[str, str]:
    return {
        "URN": urn,
        "LA (code)": la_code,
        "LA (name)": LA_NAMES.get(la_code, ""),
        "EstablishmentNumber": establishment_number,
        "EstablishmentName": name,
        "EstablishmentStatus (code)": status[0],
        "EstablishmentStatus (name)": status[1],
        "OpenDate": "",
        "CloseDate": "",
        "PhaseOfEducation (code)": phase[0],
        "PhaseOfEducation (name)": phase[1],
        "StatutoryLowAge": str(low),
        "StatutoryHighAge": str(high),
        "OfficialSixthForm (code)": "1" if high >= 18 else "2",
        "OfficialSixthForm (name)": "Has a sixth form" if high >= 18 else "Does not have a sixth form",
        "UKPRN": f"10{int(urn):06d}",
        "LastChangedDate": gias_date(EXTRACT_DAY - timedelta(days=int(urn) % 90)),
    }


def gias_only_rows(population: Population) -> list[dict[str, str]]:
    """Two schools no connector serves: an open RC voluntary-aided primary whose name needs
    cp1252 (é and ’), and a closed community junior school."""
    used = {school.urn for school in population.schools}
    first, second = _free_urns(used)
    open_school = _base_row(
        first, "330", "3901", "St Thérèse’s Catholic Primary School", PHASES["PRIMARY"], 4, 11
    )
    open_school.update(
        {
            "TypeOfEstablishment (code)": VOLUNTARY_AIDED[0],
            "TypeOfEstablishment (name)": VOLUNTARY_AIDED[1],
            "EstablishmentTypeGroup (code)": LA_MAINTAINED[0],
            "EstablishmentTypeGroup (name)": LA_MAINTAINED[1],
            "Diocese (code)": "RC05",
            "Diocese (name)": "Archdiocese of Birmingham",
            "TrustSchoolFlag (code)": NOT_APPLICABLE[0],
            "TrustSchoolFlag (name)": NOT_APPLICABLE[1],
            "Trusts (code)": "",
            "Trusts (name)": "",
        }
    )
    closed = _base_row(
        second, "856", "2902", "Old Mill Junior School", PHASES["PRIMARY"], 7, 11, status=CLOSED
    )
    closed.update(
        {
            "TypeOfEstablishment (code)": COMMUNITY[0],
            "TypeOfEstablishment (name)": COMMUNITY[1],
            "EstablishmentTypeGroup (code)": LA_MAINTAINED[0],
            "EstablishmentTypeGroup (name)": LA_MAINTAINED[1],
            "CloseDate": gias_date(date(2019, 8, 31)),
            "Diocese (code)": NO_DIOCESE[0],
            "Diocese (name)": NO_DIOCESE[1],
            "TrustSchoolFlag (code)": NOT_APPLICABLE[0],
            "TrustSchoolFlag (name)": NOT_APPLICABLE[1],
            "Trusts (code)": "",
            "Trusts (name)": "",
        }
    )
    return [open_school, closed]


def _free_urns(used: set[str]) -> tuple[str, str]:
    # Population URNs start at 100000 and rise 37 per school; 9xxxxx stays clear of them.
    free = (str(urn) for urn in range(900001, 1000000) if str(urn) not in used)
    return next(free), next(free)


def render_gias_extract(population: Population) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(school_row(school) for school in population.schools)
    writer.writerows(gias_only_rows(population))
    # A character cp1252 lacks becomes "?", as it would in the real export.
    return text.getvalue().encode(ENCODING, errors="replace")


def write_gias_extract(population: Population, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_gias_extract(population))
    return path


class GiasDownload:
    """Serves the extract at `PATH`, unauthenticated like the public GIAS download."""

    def __init__(self, population: Population) -> None:
        self.population = population
        self._lock = threading.Lock()
        self._body: bytes | None = None

    def invalidate_cache(self) -> None:
        with self._lock:
            self._body = None

    def handle(self, method: str, host: str, path: str, query: str, authorization: str | None):
        if path != PATH:
            return 404, {"Content-Type": "text/plain"}, b"Not Found"
        if method != "GET":
            return 405, {"Content-Type": "text/plain"}, b"Method Not Allowed"
        with self._lock:
            if self._body is None:
                self._body = render_gias_extract(self.population)
            body = self._body
        return (
            200,
            {
                "Content-Type": "text/csv; charset=windows-1252",
                "Content-Disposition": 'attachment; filename="edubasealldata.csv"',
            },
            body,
        )
