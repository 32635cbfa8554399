"""The Wonde v1.0 API over a `Population`, rendering the real response shapes (connectors.md §1, §3).

Transport-free: `WondeApi.handle(...)` maps a request to (status, headers, body bytes), so the
HTTP server stays a thin shell and a second API (XoD) can sit beside it. Choices that the
reference marks as guesses are noted where they are made.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlencode

from mis_simulator.datasets import (
    DATASETS_UPDATED_AT,
    AssessmentResult,
    AttendanceMark,
    Group,
    PupilDetails,
    SchoolDatasets,
    datasets_for,
)
from mis_simulator.population import HOME_REGION, REGION_DOMAINS, Deletion, Population, Pupil, School

PREFIX = "/v1.0/"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200  # the real per-endpoint cap is unpublished; clamp silently (connectors.md §1.5)
STUDENT_INCLUDES = [
    "classes",
    "education_details",
    "contact_details",
    "contacts",
    "contacts.contact_details",
    "year",
    "groups",
    "results",
    "extended_details",
]
PERMISSION_NAMES = {
    "students.read": ("Students", "Students"),
    "students.extended.read": ("Students extended details", "Students"),
    "attendance.read": ("Attendance", "Attendance"),
    "assessment.read": ("Assessment", "Assessment"),
    "groups.read": ("Groups", "Groups"),
}
# Other data items (connectors.md §1.3). Each needs its own read permission; a missing one is a 403
# on the endpoint (connectors.md §3.4, a guess). `students.extended.read` is optional on the students
# endpoint instead: without it `extended_details` is silently left out of the records.
DATASET_PERMISSIONS = {
    ("attendance", "session"): "attendance.read",
    # Leavers' session marks have their own endpoint (connectors.md §1.3, SECONDARY).
    ("attendance-leavers", "session"): "attendance.read",
    ("assessment", "aspects"): "assessment.read",
    ("assessment", "resultsets"): "assessment.read",
    ("assessment", "results"): "assessment.read",
    ("groups",): "groups.read",
}
ATTENDANCE_INCLUDES = ["attendance_code", "student", "employee"]
ASSESSMENT_INCLUDES = {
    "aspects": ["results"],
    "resultsets": ["results"],
    "results": ["aspect", "result_set", "student"],
}
GROUP_INCLUDES = ["students", "employees"]
DELETION_TYPES = ("student",)  # the simulator deletes pupils only
# Endpoints that read pupil records, so need `students.read` (deletions list pupil records too).
STUDENT_ENDPOINTS = ("students", "students-leaver", "deletions")
NOT_APPROVED = "This school has not approved access for this application."
# Attendance-code objects: `id, code, description, type` is a fact (W-PHP4); the `type`
# vocabulary and these ids are guesses. Categories follow domain.md §4 (2024 codes).
ATTENDANCE_CODE_TABLE = (
    ("/", "Present (AM)", "PRESENT"),
    ("\\", "Present (PM)", "PRESENT"),
    ("L", "Late (before registers closed)", "PRESENT"),
    ("B", "Any other approved educational activity", "APPROVED_EDUCATIONAL_ACTIVITY"),
    ("V", "Educational visit or trip", "APPROVED_EDUCATIONAL_ACTIVITY"),
    ("I", "Illness (not medical or dental appointments)", "AUTHORISED_ABSENCE"),
    ("M", "Medical or dental appointments", "AUTHORISED_ABSENCE"),
    ("C2", "Leave of absence for a pupil on a part-time timetable", "AUTHORISED_ABSENCE"),
    ("E", "Suspended or excluded, no alternative provision made", "AUTHORISED_ABSENCE"),
    ("G", "Holiday not authorised by the school", "UNAUTHORISED_ABSENCE"),
    ("N", "Reason for absence not yet provided", "UNAUTHORISED_ABSENCE"),
    ("O", "Absent in other or unknown circumstances", "UNAUTHORISED_ABSENCE"),
    ("U", "Arrived in school after registration closed", "UNAUTHORISED_ABSENCE"),
    ("#", "Planned whole or partial school closure", "NOT_COUNTED"),
    ("-", "All should attend / no mark recorded", "NO_MARK"),
)
ATTENDANCE_CODES = {
    code: {"id": f"A2040506{index:02d}", "code": code, "description": description, "type": kind}
    for index, (code, description, kind) in enumerate(ATTENDANCE_CODE_TABLE)
}
# extended_details: field names from a public Wonde sync (domain.md §1.5); value forms are our
# choice. EAL is the census first-language group as a string; language and ethnicity are
# `{code, description}` objects carrying the census codes.
EAL_STATUS = {False: "English", True: "Other than English"}
LANGUAGES = {
    "ENG": "English",
    "POL": "Polish",
    "URD": "Urdu",
    "PAN": "Panjabi",
    "BEN": "Bengali",
    "SOM": "Somali",
    "ARA": "Arabic",
    "POR": "Portuguese",
    "RUM": "Romanian",
}
ETHNICITIES = {
    "WBRI": "White - British",
    "WIRI": "White - Irish",
    "WROM": "White - Gypsy/Roma",
    "WOTH": "Any other White background",
    "MWBC": "White and Black Caribbean",
    "AIND": "Indian",
    "APKN": "Pakistani",
    "BAFR": "Black - African",
    "CHNE": "Chinese",
    "MOTH": "Any other mixed background",
    "REFU": "Refused",
}
JSON_HEADERS = {"Content-Type": "application/json"}
PAGE_CACHE_SIZE = 256  # whole pages; pupil fragments are cached separately

Response = tuple[int, dict[str, str], bytes]


def to_json(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def php_datetime(value: datetime | date | None, zone: str = "UTC") -> dict | None:
    """PHP's DateTime JSON form, the only form seen in a recorded real response."""
    if value is None:
        return None
    if isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        text = f"{value.isoformat()} 00:00:00.000000"
    return {"date": text, "timezone_type": 3, "timezone": zone}


def error(status: int, message: str) -> Response:
    # Laravel-style bodies are a guess (connectors.md §1.7); clients branch on status only.
    return status, dict(JSON_HEADERS), to_json({"error": message})


def parse_filter_time(text: str) -> datetime:
    """`YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, read as UTC."""
    if len(text) == 10:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def render_school(school: School, domain: str | None = None, scheme: str = "https") -> dict:
    """The school object. `region.domain` is the host that serves the school's data: the real
    regional domain, unless the simulator serves the region itself (`domain`, a loopback
    host:port, since the real names cannot be served from loopback)."""
    if domain is None:
        domain, scheme = REGION_DOMAINS[school.region], "https"
    return {
        "id": school.id,
        "name": school.name,
        "establishment_number": school.establishment_number,
        "urn": int(school.urn),  # an integer in the real fixture (connectors.md §1.4)
        "phase_of_education": school.phase_of_education,
        "la_code": school.la_code,
        "timezone": "Europe/London",
        "mis": school.mis,
        "address": {
            "address_line_1": f"1 {school.name.split()[0]} Road",
            "address_line_2": None,
            "address_town": "Exampleton",
            "address_postcode": "CB8 7SG",
            "address_country": {"code": "GBR", "name": "England"},
        },
        "region": {
            "code": school.region,
            "domain": domain,
            "school_url": f"{scheme}://{domain}/v1.0/schools/{school.id}",
            "identifiers": {
                "la_code": school.la_code,
                "establishment_number": school.establishment_number,
                "urn": int(school.urn),
            },
        },
    }


def render_permissions(school: School) -> list[dict]:
    rows = []
    for identity, granted in school.permissions.items():
        name, group = PERMISSION_NAMES.get(identity, (identity, "Other"))
        rows.append(
            {
                "identity": identity,
                "name": name,
                "description": f"Read access to {name.lower()}",
                "parent": None,
                "group": group,
                "active_from": php_datetime(datetime(2026, 9, 1, tzinfo=UTC)),
                "optional": identity != "students.read",
                "approved": granted,
                "audited": granted,
                "declined": not granted and school.approved,
            }
        )
    return rows


def render_student(pupil: Pupil, with_education: bool, details: PupilDetails | None = None) -> dict:
    record = {
        "id": pupil.id,
        "upi": pupil.upi,
        "mis_id": pupil.mis_id,
        "initials": pupil.forename[:1] + pupil.surname[:1],
        "title": None,
        "surname": pupil.surname,
        "forename": pupil.forename,
        "middle_names": pupil.middle_names,
        "legal_surname": pupil.legal_surname,
        "legal_forename": pupil.legal_forename,
        "gender": pupil.gender,
        "gender_identity": None,
        "date_of_birth": php_datetime(pupil.date_of_birth, "Europe/London"),
        # A re-enrolled record is a new record (new id), so its own restored_at stays null; the
        # restore shows on the old id's deletions row (connectors.md §1.6).
        "restored_at": None,
        "created_at": php_datetime(pupil.created_at),
        "updated_at": php_datetime(pupil.updated_at),
    }
    if with_education:  # the UPN and NC year exist only inside this include (connectors.md §1.4)
        record["education_details"] = {
            "data": {
                "admission_number": pupil.mis_id.zfill(6),
                "upn": pupil.upn,
                "former_upn": pupil.former_upn,
                "local_upn": None,
                "learner_number": None,
                "current_nc_year": pupil.current_nc_year,
                "part_time": False,
                "part_time_rate": None,
                "admission_date": php_datetime(pupil.admission_date, "Europe/London"),
                "leaving_date": php_datetime(pupil.leaving_date, "Europe/London"),
            }
        }
    if details is not None:  # only when asked for and `students.extended.read` is granted
        record["extended_details"] = {"data": render_details(details)}
    return record


def render_details(details: PupilDetails) -> dict:
    return {
        "sen_status": details.sen_status,
        "free_school_meals": details.fsm_eligible,
        "premium_pupil_indicator": details.pupil_premium,
        "english_as_additional_language_status": EAL_STATUS[details.eal],
        "first_language": {
            "code": details.first_language,
            "description": LANGUAGES.get(details.first_language, details.first_language),
        },
        "ethnicity": {
            "code": details.ethnicity,
            "description": ETHNICITIES.get(details.ethnicity, details.ethnicity),
        },
        "in_care": details.in_care,
        "updated_at": php_datetime(details.updated_at),
    }


def render_deletion(deletion: Deletion) -> dict:
    return {
        "type": deletion.type,
        "id": deletion.id,
        "mis_id": deletion.mis_id,
        "deleted_at": php_datetime(deletion.deleted_at),
        "restored_at": php_datetime(deletion.restored_at),
    }


def render_mark(mark: AttendanceMark, with_code: bool) -> dict:
    code = ATTENDANCE_CODES[mark.code]
    return {
        "id": mark.id,
        "student": mark.pupil_id,
        # A bare id unless included, like other relations (connectors.md §1.4, a guess).
        "attendance_code": {"data": code} if with_code else code["id"],
        "employee": None,
        "session": mark.session,
        "date": php_datetime(mark.date, "Europe/London"),
        "comment": None,
        "minutes_late": (int(mark.id[-2:]) % 25 + 1) if mark.code == "L" else None,
        "created_at": php_datetime(mark.updated_at),
        "updated_at": php_datetime(mark.updated_at),
    }


def render_result(result: AssessmentResult) -> dict:
    return {
        "id": result.id,
        "student": result.pupil_id,
        "aspect": result.aspect_id,
        "result_set": result.result_set_id,
        "result": result.result,
        "result_date": php_datetime(result.result_date, "Europe/London"),
        "created_at": php_datetime(result.updated_at),
        "updated_at": php_datetime(result.updated_at),
    }


def render_group(group: Group, with_students: bool) -> dict:
    record = {
        "id": group.id,
        "mis_id": str(int(group.id[-6:])),
        "code": group.code,
        "name": group.name,
        "type": group.type.upper(),
        "description": None,
        "created_at": php_datetime(group.updated_at),
        "updated_at": php_datetime(group.updated_at),
    }
    if with_students:  # trimmed to ids: the real include nests whole student objects
        record["students"] = {"data": [{"id": pupil_id} for pupil_id in group.member_ids]}
    return record


class WondeApi:
    """Handles `/v1.0/...` requests for one population and one application token.

    Only schools whose `connector` is "wonde" are this app's: the school lists show only them,
    and any `schools/{id}/...` request for another school is a 403, as for a school that never
    approved the app. `serve_all_schools` lifts that, for tests comparing both connectors on one
    school.

    Regions (connectors.md §1.2): a request's region is the one whose host it was addressed to
    (`regional_hosts`, host:port -> region code, filled by the server for each regional listener;
    any other host is the home region, api.wonde.com). A school's data asked of another region's
    host is "no data": an empty list. School objects, listings and permissions answer on every
    host (a guess), so a client can learn the domain from any of them."""

    scheme = "http"  # of the links it writes; the HTTPS server uses a subclass

    def __init__(self, population: Population, token: str, *, serve_all_schools: bool = False) -> None:
        self.population = population
        self.token = token
        self.serve_all_schools = serve_all_schools
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple, Response] = OrderedDict()
        self._fragments: dict[tuple[str, bool, bool], bytes] = {}
        # Each school's other data items, built on first use (attendance is large) by school id.
        self._datasets: dict[str, SchoolDatasets] = {}
        self._datasets_lock = threading.Lock()
        # Filtered row lists, so paging through a big filtered list does not refilter per page.
        self._filtered: OrderedDict[tuple, list] = OrderedDict()
        # Host for absolute `next`/`previous` links; None means the request's Host header.
        # Set it when the simulator sits behind a proxy (tests use it to fake a foreign host).
        self.public_host: str | None = None
        self.regional_hosts: dict[str, str] = {}  # host:port -> region code

    def region_domain(self, school: School) -> str | None:
        """The loopback host:port this simulator serves the school's region on, if it does."""
        if school.region == HOME_REGION:
            return None
        return next((host for host, region in self.regional_hosts.items() if region == school.region), None)

    def render_school(self, school: School) -> dict:
        return render_school(school, self.region_domain(school), self.scheme)

    def invalidate_cache(self) -> None:
        """Call after mutating the population, so changed pupils are re-rendered."""
        with self._lock:
            self._pages.clear()
            self._fragments.clear()
            self._filtered.clear()
        with self._datasets_lock:
            self._datasets.clear()

    def datasets(self, school: School) -> SchoolDatasets:
        """The school's details, attendance, assessment and groups, cached by school id until
        `invalidate_cache`."""
        with self._datasets_lock:
            built = self._datasets.get(school.id)
            if built is None:
                built = self._datasets[school.id] = datasets_for(self.population, school)
            return built

    def authorised(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return credential.strip() == self.token
        if scheme.lower() == "basic":  # `curl -u <token>:`, as the official PHP client sends it
            try:
                user, _, _ = (
                    base64.b64decode(credential.strip(), validate=True).decode("utf-8").partition(":")
                )
            except ValueError:
                return False
            return user == self.token
        return False

    def handle(self, method: str, host: str, path: str, query: str, authorization: str | None) -> Response:
        if not self.authorised(authorization):
            return error(401, "Unauthenticated.")
        if method != "GET":
            return error(405, "Method Not Allowed")
        region = self.regional_hosts.get(host, HOME_REGION)  # where the request was sent
        host = self.public_host or host
        params = parse_qsl(query, keep_blank_values=True)
        key = (host, region, path, tuple(sorted(params)))
        with self._lock:
            cached = self._pages.get(key)
            if cached is not None:
                self._pages.move_to_end(key)
                return cached
        response = self.route(host, path, params, region)
        if response[0] == 200:
            with self._lock:
                self._pages[key] = response
                if len(self._pages) > PAGE_CACHE_SIZE:
                    self._pages.popitem(last=False)
        return response

    def serves(self, school: School) -> bool:
        """Whether `school` is one of this app's Wonde schools (in any approval state)."""
        return self.serve_all_schools or school.connector == "wonde"

    def route(
        self, host: str, path: str, params: list[tuple[str, str]], region: str = HOME_REGION
    ) -> Response:
        parts = path[len(PREFIX) :].strip("/").split("/")
        if parts == ["schools"]:
            schools = [school for school in self.population.approved_schools() if self.serves(school)]
            return self.listing(host, path, params, schools)
        if (
            len(parts) == 2
            and parts[0] == "schools"
            and parts[1] in ("pending", "revoked", "audited", "declined")
        ):
            schools = [school for school in self.population.schools_in_state(parts[1]) if self.serves(school)]
            return self.listing(host, path, params, schools)
        if len(parts) >= 2 and parts[0] == "schools":
            return self.school_route(host, path, params, parts[1], parts[2:], region)
        if len(parts) == 4 and parts[:2] == ["meta", "schools"] and parts[3] == "permissions":
            school = self.population.school_by_id(parts[2])
            if school is None:
                return error(404, "School not found")
            if not self.serves(school):
                return error(403, NOT_APPROVED)
            return 200, dict(JSON_HEADERS), to_json({"data": render_permissions(school)})
        return error(404, "Not Found")

    def school_route(
        self, host: str, path: str, params, school_id: str, rest: list[str], region: str = HOME_REGION
    ) -> Response:
        school = self.population.school_by_id(school_id)
        if school is None:
            return error(404, "School not found")
        if not self.serves(school):  # another connector's school never approved this app
            return error(403, NOT_APPROVED)
        if not rest:
            # School metadata is visible in every state (it appears in schools/pending too).
            return (
                200,
                dict(JSON_HEADERS),
                to_json({"data": self.render_school(school), "meta": {"includes": ["cbds"]}}),
            )
        if len(rest) == 1 and rest[0] in STUDENT_ENDPOINTS:
            permission = "students.read"
        else:
            permission = DATASET_PERMISSIONS.get(tuple(rest))
            if permission is None:
                return error(404, "Not Found")
        if not school.approved:
            return error(403, NOT_APPROVED)
        if not school.permissions.get(permission):
            return error(403, f"This application does not have the {permission} permission.")
        if school.region != region:
            # "Using the wrong domain for a school will return no data" (connectors.md §1.2).
            return 200, dict(JSON_HEADERS), to_json({"data": [], "meta": {"includes": []}})
        if rest == ["students"]:
            return self.students(host, path, params, school, school.pupils)
        if rest == ["students-leaver"]:
            return self.students(host, path, params, school, school.leavers)
        if rest == ["deletions"]:
            return self.deletions(host, path, params, school)
        try:
            if rest[0] == "attendance":
                return self.attendance(host, path, params, school, self.datasets(school).attendance)
            if rest[0] == "attendance-leavers":
                return self.attendance(host, path, params, school, self.datasets(school).leaver_attendance)
            if rest[0] == "assessment":
                return self.assessment(host, path, params, school, rest[1])
            return self.groups(host, path, params, school)
        except ValueError:
            return error(422, "A date filter value is not a valid date.")

    def listing(self, host: str, path: str, params, schools: list[School]) -> Response:
        page = self.paginate(host, path, params, len(schools))
        chunk = [self.render_school(school) for school in schools[page.start : page.stop]]
        return 200, dict(JSON_HEADERS), to_json({"data": chunk, "meta": page.meta(["cbds"])})

    def students(self, host: str, path: str, params, school: School, records: list[Pupil]) -> Response:
        """`students` (on roll) or `students-leaver` (`school.leavers`, `leaving_date` set in
        `education_details`): the same record shape, includes and filters."""
        try:
            pupils = filter_updated(records, dict(params))
        except ValueError:
            return error(422, "The updated_after/updated_before value is not a valid date.")
        includes = {name.strip() for value in _values(params, "include") for name in value.split(",")}
        with_education = "education_details" in includes
        # A toggled-off optional permission silently omits the include (connectors.md §3.4, a guess).
        details = (
            self.datasets(school).details
            if "extended_details" in includes and school.permissions.get("students.extended.read")
            else None
        )
        page = self.paginate(host, path, params, len(pupils))
        rows = b",".join(
            self.fragment(pupil, with_education, details) for pupil in pupils[page.start : page.stop]
        )
        meta = to_json(page.meta(STUDENT_INCLUDES))
        return 200, dict(JSON_HEADERS), b'{"data":[' + rows + b'],"meta":' + meta + b"}"

    def deletions(self, host: str, path: str, params, school: School) -> Response:
        """`{type, id, mis_id, deleted_at, restored_at}` rows, oldest first. `updated_after` /
        `updated_before` filter on the row's last change (restored_at, else deleted_at), so a
        delta also sees restores of earlier deletions; `type` narrows to one record type."""
        query = dict(params)
        try:
            rows = filter_updated(self.population.deletions_for(school), query)
        except ValueError:
            return error(422, "The updated_after/updated_before value is not a valid date.")
        if query.get("type"):
            rows = [row for row in rows if row.type == query["type"]]
        page = self.paginate(host, path, params, len(rows))
        data = [render_deletion(row) for row in rows[page.start : page.stop]]
        return 200, dict(JSON_HEADERS), to_json({"data": data, "meta": page.meta([])})

    def fragment(
        self, pupil: Pupil, with_education: bool, details: dict[str, PupilDetails] | None = None
    ) -> bytes:
        key = (pupil.id, with_education, details is not None)
        rendered = self._fragments.get(key)
        if rendered is None:
            rendered = self._fragments[key] = to_json(
                render_student(pupil, with_education, details[pupil.id] if details is not None else None)
            )
        return rendered

    def filtered(self, school: School, dataset: str, rows: list, params: dict[str, str], *names: str) -> list:
        """`rows` narrowed by `updated_after`/`updated_before` (and, for attendance, the session-date
        range), remembered per (school, dataset, filter values)."""
        key = (school.id, dataset) + tuple(params.get(name) for name in names)
        with self._lock:
            cached = self._filtered.get(key)
        if cached is not None:
            return cached
        rows = filter_updated(rows, params)
        if "date_from" in names or "date_to" in names:
            rows = filter_dates(rows, params)
        with self._lock:
            self._filtered[key] = rows
            if len(self._filtered) > PAGE_CACHE_SIZE:
                self._filtered.popitem(last=False)
        return rows

    def attendance(
        self, host: str, path: str, params, school: School, marks: list[AttendanceMark]
    ) -> Response:
        """Session marks: on-roll pupils' (`attendance/session`) or leavers' (`attendance-leavers/
        session`). `date_from`/`date_to` (inclusive `YYYY-MM-DD`, on the session date) are our
        names: the real range parameters were not found (connectors.md §1.4)."""
        marks = self.filtered(
            school, path, marks, dict(params), "updated_after", "updated_before", "date_from", "date_to"
        )
        with_code = "attendance_code" in _includes(params)
        page = self.paginate(host, path, params, len(marks))
        rows = [render_mark(mark, with_code) for mark in marks[page.start : page.stop]]
        return 200, dict(JSON_HEADERS), to_json({"data": rows, "meta": page.meta(ATTENDANCE_INCLUDES)})

    def assessment(self, host: str, path: str, params, school: School, item: str) -> Response:
        """Aspects, result sets or results. Results include leavers' (INFERENCE: no leavers'
        results endpoint is known, and a MIS keeps a leaver's results)."""
        datasets = self.datasets(school)
        if item == "results":
            results = self.filtered(
                school, "results", datasets.results, dict(params), "updated_after", "updated_before"
            )
            page = self.paginate(host, path, params, len(results))
            rows = [render_result(result) for result in results[page.start : page.stop]]
        else:
            # Aspects and result sets carry no timestamps of their own in the ground truth; they
            # all share the datasets' time, so the updated_* filters still apply uniformly.
            named = datasets.aspects if item == "aspects" else datasets.result_sets
            stamped = [_Stamped(row) for row in named]
            stamped = filter_updated(stamped, dict(params))
            page = self.paginate(host, path, params, len(stamped))
            rows = [
                {
                    "id": row.id,
                    "name": row.name,
                    "created_at": php_datetime(row.updated_at),
                    "updated_at": php_datetime(row.updated_at),
                }
                for row in stamped[page.start : page.stop]
            ]
        return 200, dict(JSON_HEADERS), to_json({"data": rows, "meta": page.meta(ASSESSMENT_INCLUDES[item])})

    def groups(self, host: str, path: str, params, school: School) -> Response:
        groups = self.filtered(
            school, "groups", self.datasets(school).groups, dict(params), "updated_after", "updated_before"
        )
        with_students = "students" in _includes(params)
        page = self.paginate(host, path, params, len(groups))
        rows = [render_group(group, with_students) for group in groups[page.start : page.stop]]
        return 200, dict(JSON_HEADERS), to_json({"data": rows, "meta": page.meta(GROUP_INCLUDES)})

    def paginate(self, host: str, path: str, params, total: int) -> Page:
        return Page.of(host, path, params, total)


def _values(params, name: str) -> list[str]:
    return [value for key, value in params if key == name]


def _includes(params) -> set[str]:
    return {name.strip() for value in _values(params, "include") for name in value.split(",")}


class _Stamped:
    """An aspect or result set with the datasets' shared timestamp, for `filter_updated`."""

    __slots__ = ("id", "name", "updated_at")

    def __init__(self, row) -> None:
        self.id, self.name, self.updated_at = row.id, row.name, DATASETS_UPDATED_AT


def filter_dates(marks: list[AttendanceMark], params: dict[str, str]) -> list[AttendanceMark]:
    """Inclusive `date_from`/`date_to` on the session date (our parameter names)."""
    start, end = params.get("date_from"), params.get("date_to")
    if start:
        first = parse_filter_time(start).date()
        marks = [mark for mark in marks if mark.date >= first]
    if end:
        last = parse_filter_time(end).date()
        marks = [mark for mark in marks if mark.date <= last]
    return marks


def filter_updated(pupils: list, params: dict[str, str]) -> list:
    """Strict comparisons on updated_at (connectors.md §3.3); any record with `updated_at`."""
    after, before = params.get("updated_after"), params.get("updated_before")
    if after:
        after_time = parse_filter_time(after)
        pupils = [pupil for pupil in pupils if pupil.updated_at > after_time]
    if before:
        before_time = parse_filter_time(before)
        pupils = [pupil for pupil in pupils if pupil.updated_at < before_time]
    return pupils


class Page:
    """Wonde's page-number pagination, quirks included (connectors.md §1.5, §3.2)."""

    def __init__(self, host, path, params, per_page, per_page_echo, number, total, show) -> None:
        self.host, self.path, self.params = host, path, params
        self.per_page, self.per_page_echo, self.number = per_page, per_page_echo, number
        self.start = (number - 1) * per_page
        self.stop = self.start + per_page
        self.more = self.stop < total
        self.show = show

    @classmethod
    def of(cls, host: str, path: str, params, total: int) -> Page:
        sent = _values(params, "per_page")
        per_page, echo = DEFAULT_PER_PAGE, DEFAULT_PER_PAGE
        if sent:
            per_page = min(max(_int(sent[-1], DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
            # The 2016 recording echoes the query's string; echo the clamped value when clamped.
            echo = sent[-1] if str(per_page) == sent[-1] else str(per_page)
        number = max(_int((_values(params, "page") or ["1"])[-1], 1), 1)
        # "If the response contains 50 objects or fewer, no pagination object will be returned".
        show = bool(sent) or total > DEFAULT_PER_PAGE
        return cls(host, path, params, per_page, echo, number, total, show)

    def url(self, number: int) -> str:
        # Keep every original parameter in order; commas stay literal as in the real `next`.
        kept = [(key, value) for key, value in self.params if key != "page"] + [("page", str(number))]
        return f"http://{self.host}{self.path}?{urlencode(kept, safe=',:')}"

    def meta(self, includes: list[str]) -> dict:
        meta: dict = {}
        if self.show:
            meta["pagination"] = {
                "next": self.url(self.number + 1) if self.more else None,
                "previous": self.url(self.number - 1) if self.number > 1 else None,
                "more": self.more,
                "per_page": self.per_page_echo,
                "current_page": self.number,
            }
        meta["includes"] = includes
        return meta


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
