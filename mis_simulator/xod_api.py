"""Groupcall Xporter on Demand (XoD) over a `Population`, rendering the recorded response shapes
(connectors.md §2, §3.1-3.6).

Transport-free like `WondeApi`: `XodApi.handle(method, host, path, query, authorization, body)`
maps a request to (status, headers, body bytes); the server routes `/api/` here. GetToken is a
POST with a JSON body, so the server must hand the request body over (`body=`); without it every
token request fails as "secret not correct".

Mapping from the population (choices marked INFERENCE are not in any source):
- a school is addressed by estab = la_code + establishment_number (7 digits);
- its secret is `school_secret(school)`; `approval` approved → authorised, pending → paused
  (AuthorisationPaused at GetToken), revoked → GetToken fails;
- granted scopes (INFERENCE): students.read → Student, UPN, SchoolLite; students.extended.read →
  StudentExtended; attendance.read → Attendance; assessment.read → AssessmentResults;
  groups.read → School. SchoolInfo needs School or SchoolLite, Groups needs School (real XoD
  also lets SchoolLite read Groups; here that would make groups.read meaningless),
  assessmentstructure needs AssessmentResults or School;
- a student's `Id` is the pupil's mis_id, `IdaasId` "PL-<Id>", `ExternalId` the Wonde upi as a
  GUID; `DateofBirth` (the recorded spelling) needs StudentExtended, as the Queries docs say
  (switch: `dob_needs_extended_scope`);
- zone-less timestamps (`LastUpdated`) are rendered in `TIMESTAMP_ZONE` (UTC; INFERENCE, see
  `mis_pipeline.connectors.xod.normalise.XOD_TIMESTAMP_ZONE`, which must agree);
- dataset names: `Students`, `Group` (+ `StudentMembers`), `AttendMarks`, `AsmResults`,
  `Aspects`/`ResultSets`, `SchoolInfo` (the last four are INFERENCE).

Rows carry only the fields connectors.md shows for them, unless `inferred_fields` (the serve
option `--inferred-fields`) adds the ones marked `# INFERENCE` below: `LastUpdated` and
`RowHash` on AttendMarks, AsmResults, Aspects and ResultSets, and `NCYear` and `FormerUPN` on
Students. So by default a client is tested against what the real service is documented to send.
The changedRows snapshots still compare rows by a hash, computed here and never served.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qsl

from mis_simulator.datasets import SchoolDatasets, datasets_for
from mis_simulator.population import Population, Pupil, School
from mis_simulator.wonde_api import to_json

PREFIX = "/api/"
# The relying party the simulator's server expects (`SimulatorServer`, printed by `serve` as
# XPORTER_RELYING_PARTY). A bare `XodApi` accepts any non-empty one unless told otherwise.
RELYING_PARTY = "mis-pipeline.local"
DEFAULT_TOKEN_LIFETIME_SECONDS = 5 * 86400  # observed in a 2018 recording (connectors.md §2.1)
TIMESTAMP_ZONE = UTC
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}

BAD_SECRET_MESSAGE = "Relying Party not found for estab or secret not correct"
PAUSED_MESSAGE = (
    "Authorisation is currently paused while the school finalises the selection of people they "
    "wish to include in this feed."
)
DENIED_MESSAGE = "Authorization has been denied for this request."  # ASP.NET's wording; INFERENCE
UNKNOWN_CHANGESET_MESSAGE = "The changedRows value is not recognised or has expired"  # INFERENCE

SCOPES_BY_PERMISSION = {
    "students.read": ("Student", "UPN", "SchoolLite"),
    "students.extended.read": ("StudentExtended",),
    "attendance.read": ("Attendance",),
    "assessment.read": ("AssessmentResults",),
    "groups.read": ("School",),
}
GROUP_TYPES = {"year": "YearGrp", "registration": "RegGrp", "house": "HouseGrp", "teaching": "TeachingGrp"}
MIS_CODES = {"SIMS": "simsnet", "Arbor": "arbor", "Bromcom": "bromcom"}  # meta.MIS; INFERENCE beyond SIMS
SEN_PROVISION = {"N": "N", "K": "K", "E": "E"}
LANGUAGE_NAMES = {
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
ETHNICITY_NAMES = {
    "WBRI": "White - British",
    "WIRI": "White - Irish",
    "WROM": "Gypsy / Roma",
    "WOTH": "Any other White background",
    "MWBC": "White and Black Caribbean",
    "AIND": "Indian",
    "APKN": "Pakistani",
    "BAFR": "Black African",
    "CHNE": "Chinese",
    "MOTH": "Any other mixed background",
    "REFU": "Refused",
}
PAGING_KEYS = {"page", "pagesize", "changedrows"}

Response = tuple[int, dict[str, str], bytes]


# -- helpers shared with tests --------------------------------------------------------------
def estab_of(school: School) -> str:
    return school.la_code + school.establishment_number


def school_secret(school: School) -> str:
    """The schoolSecret this school issued to the app (deterministic, so tests can write it)."""
    return f"xod-secret-{school.id}"


def write_xod_secrets(population: Population, path) -> Path:
    """Write `{estab: schoolSecret}` JSON (the file XPORTER_SCHOOL_SECRETS names) for every
    school on XoD that has issued the app a secret: approved, pending (paused) and revoked ones.
    A revoked school's secret is refused at GetToken, so a client holding it sees the refusal."""
    target = Path(path)
    secrets_by_estab = {
        estab_of(school): school_secret(school)
        for school in population.schools_on("xod")
        if school.approval in ("approved", "pending", "revoked")
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(secrets_by_estab, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def granted_scopes(school: School) -> list[str]:
    scopes = {
        scope
        for permission, granted in school.permissions.items()
        if granted
        for scope in SCOPES_BY_PERMISSION.get(permission, ())
    }
    return sorted(scopes)


def error_body(message: str, exception_type: str | None = None) -> dict:
    """The four-key error object (connectors.md §2.6)."""
    return {
        "Message": None,
        "ExceptionType": exception_type,
        "ExceptionMessage": message,
        "InnerException": None,
    }


def xod_error(message: str, status: int = 200, exception_type: str | None = None) -> Response:
    # XoD answers most errors with HTTP 200 and a non-null ExceptionMessage, as recorded.
    return status, dict(JSON_HEADERS), to_json(error_body(message, exception_type))


def local_timestamp(moment: datetime) -> str:
    """Zone-less, .NET style: trailing fraction zeros dropped (`2018-06-12T02:07:21.03`)."""
    local = moment.astimezone(TIMESTAMP_ZONE)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += "." + f"{local.microsecond:06d}".rstrip("0")
    return text


def utc_timestamp(moment: datetime) -> str:
    """`2021-04-17T09:34:46.4025550Z`: seven fraction digits, as token expiries come."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def year_group_name(nc_year: str) -> str:
    """SIMS names, with the double space SIMS pads single-digit years with (connectors.md §2.3)."""
    if nc_year == "R":
        return "Reception"
    if nc_year.startswith("N"):
        return f"Nursery {nc_year[1:]}"
    return f"Year {nc_year:>2}"


def group_display_name(group) -> str:
    return year_group_name(group.code) if group.type == "year" else group.name


def row_hash(row: dict) -> str:
    return hashlib.sha1(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest().upper()


def _hashed(row: dict) -> dict:
    row["RowHash"] = row_hash(row)
    return row


def _with_inferred(row: dict, inferred: dict, serve: bool) -> dict:
    """`row` plus `inferred` (fields no source shows on this record) and its RowHash, only when
    the simulator serves inferred fields."""
    return _hashed({**row, **inferred}) if serve else row


def _numeric(text_id: str) -> str:
    return str(int(text_id[-6:]))  # the last six digits of a datasets id: short, as XoD ids are


def _local(text_id: str, school: School) -> str:
    """A datasets id without its two-letter prefix and school digits (`AR<school><mis_id><nn>`
    → `<mis_id><nn>`): unique within the school, as an XoD row Id must be."""
    return str(int(text_id[len(school.id) + 1 :]))


def _guid(seed: str) -> str:
    return str(uuid.UUID(hashlib.md5(seed.encode()).hexdigest()))


@dataclass
class _Token:
    estab: str
    expires: float  # epoch seconds


@dataclass
class _Snapshot:
    estab: str
    endpoint: str
    params: tuple
    rows: dict[str, dict[str, str]]  # dataset -> Id -> RowHash
    created: float
    previous: str  # the changedRows value that produced it


class XodApi:
    """Handles `/api/...` for one population. Thread-safe; tokens and changedRows snapshots live
    in this object. `relying_party=None` accepts any non-empty relyingParty.

    Only schools whose `connector` is "xod" exist here (GetToken for any other estab gets the
    bad-secret answer), unless `serve_all_schools` (tests comparing both connectors on one school)."""

    wants_body = True  # GetToken reads a JSON body: the server must pass `body=`

    def __init__(
        self,
        population: Population,
        *,
        relying_party: str | None = None,
        token_lifetime_seconds: float = DEFAULT_TOKEN_LIFETIME_SECONDS,
        snapshot_ttl_seconds: float | None = None,
        dob_needs_extended_scope: bool = True,
        serve_all_schools: bool = False,
        inferred_fields: bool = False,
        clock=time.time,
    ) -> None:
        self.population = population
        self.inferred_fields = inferred_fields
        self.serve_all_schools = serve_all_schools
        self.relying_party = relying_party
        self.token_lifetime_seconds = token_lifetime_seconds
        self.snapshot_ttl_seconds = snapshot_ttl_seconds
        self.dob_needs_extended_scope = dob_needs_extended_scope
        self.clock = clock
        self._lock = threading.RLock()
        self._tokens: dict[str, _Token] = {}
        self._snapshots: dict[str, _Snapshot] = {}
        self._datasets: dict[str, SchoolDatasets] = {}
        self._rows: dict[tuple, list[dict]] = {}
        self._unserved_hashes: dict[int, tuple[dict, str]] = {}  # id(row) -> (row, hash): see _row_hash

    # -- test hooks ----------------------------------------------------------------------------
    def invalidate_cache(self, datasets: bool = True) -> None:
        """Call after mutating the population: rendered rows and (unless `datasets=False`) the
        per-school datasets are rebuilt. Rebuilding datasets is safe, because each pupil's
        details, marks, results and groups are drawn from that pupil's own RNG: a new, removed or
        restored pupil changes nobody else's rows."""
        with self._lock:
            self._rows.clear()
            self._unserved_hashes.clear()
            if datasets:
                self._datasets.clear()

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.expires = 0.0

    def clear_snapshots(self) -> None:
        with self._lock:
            self._snapshots.clear()

    def school_by_estab(self, estab: str) -> School | None:
        """The XoD school with this estab (any school when `serve_all_schools`)."""
        return next(
            (
                school
                for school in self.population.schools
                if estab_of(school) == estab and (self.serve_all_schools or school.connector == "xod")
            ),
            None,
        )

    # -- dispatch ------------------------------------------------------------------------------
    def handle(
        self, method: str, host: str, path: str, query: str, authorization: str | None, body: bytes = b""
    ) -> Response:
        parts = [part for part in path[len(PREFIX) :].split("/") if part]
        lowered = [part.lower() for part in parts]
        params = parse_qsl(query, keep_blank_values=True)
        if lowered == ["oauth", "gettoken"]:
            if method != "POST":
                return xod_error("The requested resource does not support http method 'GET'.", 405)
            return self.get_token(body)
        if method != "GET":
            return xod_error(f"The requested resource does not support http method '{method}'.", 405)
        token = self.authenticate(authorization)
        if token is None:
            return xod_error(DENIED_MESSAGE, 401)
        if lowered == ["v1", "tokendetails"]:
            return self.token_details(token)
        if len(parts) in (4, 5) and lowered[:2] == ["v1", "school"]:
            return self.school_endpoint(
                token, parts[2], lowered[3], parts[4] if len(parts) == 5 else None, params
            )
        return xod_error("No HTTP resource was found that matches the request URI.", 404)

    # -- authentication ------------------------------------------------------------------------
    def get_token(self, body: bytes) -> Response:
        try:
            request = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            request = None
        if not isinstance(request, dict):
            return xod_error("The request body is not valid JSON", 200)
        fields = {str(key).lower(): value for key, value in request.items()}  # keys are case-insensitive
        estab = str(fields.get("estab") or "")
        relying_party, password = fields.get("relyingparty"), fields.get("password")
        school = self.school_by_estab(estab) if estab else None
        if (
            school is None
            or not relying_party
            or password != school_secret(school)
            or (self.relying_party is not None and relying_party != self.relying_party)
            or school.approval == "revoked"
        ):
            return self._token_failure(BAD_SECRET_MESSAGE)
        if school.approval != "approved":
            return self._token_failure(PAUSED_MESSAGE)
        value = base64.b64encode(secrets.token_bytes(660)).decode("ascii")  # opaque, ~900 chars
        expires = self.clock() + self.token_lifetime_seconds
        with self._lock:
            self._tokens[value] = _Token(estab, expires)
        payload = {
            "token": value,
            "expires": utc_timestamp(datetime.fromtimestamp(expires, UTC)),
            "Message": None,
            "ExceptionType": None,
            "ExceptionMessage": None,
            "InnerException": None,
        }
        return 200, dict(JSON_HEADERS), to_json(payload)

    @staticmethod
    def _token_failure(message: str) -> Response:
        payload = {"token": None, "expires": "0001-01-01T00:00:00", **error_body(message)}
        return 200, dict(JSON_HEADERS), to_json(payload)

    def authenticate(self, authorization: str | None) -> _Token | None:
        """`Idaas <token>` only: a client sending `Bearer` must be caught (connectors.md §3.1)."""
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "idaas":
            return None
        with self._lock:
            token = self._tokens.get(credential.strip())
        if token is None or token.expires <= self.clock():
            return None
        return token

    def token_details(self, token: _Token) -> Response:
        school = self.school_by_estab(token.estab)
        payload = {
            "Estab": token.estab,
            "Expires": utc_timestamp(datetime.fromtimestamp(token.expires, UTC)),
            "Name": school.name if school else None,
            "RelyingParty": self.relying_party,
            "Scopes": granted_scopes(school) if school else [],
            "Message": None,
            "ExceptionType": None,
            "ExceptionMessage": None,
            "InnerException": None,
        }
        return 200, dict(JSON_HEADERS), to_json(payload)

    # -- school data ---------------------------------------------------------------------------
    def school_endpoint(self, token: _Token, estab: str, endpoint: str, item: str | None, params) -> Response:
        if estab != token.estab:
            return xod_error(f"The token is not valid for estab {estab}")  # INFERENCE
        school = self.school_by_estab(estab)
        if school is None or school.approval == "revoked":
            return xod_error(BAD_SECRET_MESSAGE)
        if school.approval != "approved":
            return xod_error(PAUSED_MESSAGE)
        scopes = set(granted_scopes(school))
        lookup = {key.lower(): value for key, value in params}
        handlers = {
            "schoolinfo": (("School", "SchoolLite"), self.school_info),
            "students": (("Student", "StudentLite"), self.students),
            "groups": (("School",), self.groups),
            "attendancefordaterange": (("Attendance",), self.attendance),
            "assessmentstructure": (("AssessmentResults", "School"), self.assessment_structure),
            "assessmentresults": (("AssessmentResults",), self.assessment_results),
        }
        if endpoint not in handlers:
            return xod_error("No HTTP resource was found that matches the request URI.", 404)
        needed, handler = handlers[endpoint]
        if not scopes & set(needed):
            return xod_error(f"The '{needed[0]}' scope has not been authorised for this estab")  # INFERENCE
        result = handler(school, scopes, lookup, item)
        if isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], int):
            return result  # an error response
        datasets, primary = result
        return self.envelope(school, endpoint, params, lookup, datasets, primary)

    def datasets_for(self, school: School) -> SchoolDatasets:
        with self._lock:
            cached = self._datasets.get(school.id)
        if cached is None:
            cached = datasets_for(self.population, school)
            with self._lock:
                cached = self._datasets.setdefault(school.id, cached)
        return cached

    def _cached_rows(self, key: tuple, build) -> list[dict]:
        with self._lock:
            rows = self._rows.get(key)
        if rows is None:
            rows = build()
            with self._lock:
                self._rows[key] = rows
        return rows

    def school_info(self, school: School, scopes, lookup, item):
        row = _hashed(
            {
                "Id": estab_of(school),
                "Name": school.name,
                "LACode": school.la_code,
                "EstablishmentNumber": school.establishment_number,
                "URN": school.urn,
                "Phase": school.phase_of_education,
                "MIS": MIS_CODES.get(school.mis, school.mis.lower()),
                "LastUpdated": local_timestamp(datetime(2026, 9, 1, tzinfo=UTC)),
            }
        )
        return {"SchoolInfo": [row]}, "SchoolInfo"

    # Students ---------------------------------------------------------------------------------
    def students(self, school: School, scopes, lookup, item):
        rows = self._cached_rows(
            (school.id, "students", frozenset(scopes)), lambda: self.render_students(school, scopes)
        )
        options = {
            option.strip().lower() for option in lookup.get("options", "").split(",") if option.strip()
        }
        statuses = {
            status.strip().lower() for status in lookup.get("studentstatus", "").split(",") if status.strip()
        }
        if not statuses:  # leavers only on request: `options=includeLeavers` or `studentStatus=Leaver`
            statuses = {"onroll"} | ({"leaver"} if "includeleavers" in options else set())
        rows = [row for row in rows if row["StudentStatus"].lower() in statuses]
        if item is not None:
            rows = [row for row in rows if row["Id"] == item]
        if lookup.get("yeargroupid"):
            rows = [row for row in rows if row["YearGroupId"] == lookup["yeargroupid"]]
        if lookup.get("updatedsince"):
            try:
                since = _parse_local(lookup["updatedsince"])
            except ValueError:
                return xod_error("updatedSince is not a valid date")
            rows = [row for row in rows if _parse_local(row["LastUpdated"]) > since]
        return {"Students": rows, "StudentSiblings": []}, "Students"

    def render_students(self, school: School, scopes) -> list[dict]:
        """On-roll pupils, then leavers (`school.leavers`, StudentStatus "Leaver" with their
        LeavingDate): a pupil who leaves stays a row that changes, never a `Students_deleted` Id,
        when the client asks for leavers. A deleted pupil is in neither list, so it is deleted."""
        data = self.datasets_for(school)
        return [
            self.render_student(pupil, data.details.get(pupil.id), data.memberships.get(pupil.id, {}), scopes)
            for pupil in list(school.pupils) + list(school.leavers)
        ]

    def render_student(self, pupil: Pupil, details, groups: dict, scopes) -> dict:
        year, reg, house = groups.get("year"), groups.get("registration"), groups.get("house")
        row: dict = {
            "Id": pupil.mis_id,
            "XID": "x" + hashlib.md5(pupil.upi.encode()).hexdigest()[:6].upper(),
            "ExternalId": str(uuid.UUID(hex=pupil.upi)),
            "IdaasId": f"PL-{pupil.mis_id}",
            "Forename": pupil.forename,
            "Surname": pupil.surname,
            "DisplayName": f"{pupil.forename} {pupil.surname}",
            "AdmissionNo": pupil.mis_id.zfill(6),
            "Gender": "M" if pupil.gender == "MALE" else "F",
            "RegGroupId": _numeric(reg.id) if reg else None,
            "RegGroup": reg.name if reg else None,
            "YearGroupId": _numeric(year.id) if year else None,
            "YearGroup": year_group_name(pupil.current_nc_year),
            "HouseGroupId": _numeric(house.id) if house else None,
            "HouseGroup": house.name if house else None,
            "MiddleName": pupil.middle_names,
            "LegalForename": pupil.legal_forename,
            "LegalSurname": pupil.legal_surname,
            "EnrolmentStatus": "C",
            "EntryDate": pupil.admission_date.isoformat(),
            "LeavingDate": pupil.leaving_date.isoformat() if pupil.leaving_date else None,
        }
        if "StudentExtended" in scopes or not self.dob_needs_extended_scope:
            # The recorded spelling; null for a bad record that has none, as Wonde sends it.
            row["DateofBirth"] = pupil.date_of_birth.isoformat() if pupil.date_of_birth else None
        if self.inferred_fields:
            row["NCYear"] = pupil.current_nc_year  # INFERENCE: not in the 2018 recording
        if "UPN" in scopes:
            row["UPN"] = pupil.upn
            if self.inferred_fields:
                row["FormerUPN"] = pupil.former_upn  # INFERENCE: no source names the field
        if "StudentExtended" in scopes and details is not None:
            row.update(
                {
                    "SENProvision": SEN_PROVISION[details.sen_status],
                    "FSMEligible": int(details.fsm_eligible),
                    "PupilPremium": int(details.pupil_premium),
                    "EAL": int(details.eal),
                    "FSMEver6": 0,
                    "ServiceChild": "0",  # a string, unlike every other flag (recorded)
                    "InLeaCare": int(details.in_care),
                    "EverInCare": int(details.in_care),
                    "EthnicityCode": details.ethnicity,
                    "Ethnicity": ETHNICITY_NAMES.get(details.ethnicity),
                    "FirstLanguage": LANGUAGE_NAMES.get(details.first_language),
                    "FirstLanguageCode": details.first_language,
                }
            )
        row["StudentStatus"] = "Leaver" if pupil.leaving_date else "OnRoll"
        row["LastUpdated"] = local_timestamp(pupil.updated_at)
        return _hashed(row)

    # Groups -----------------------------------------------------------------------------------
    def groups(self, school: School, scopes, lookup, item):
        groups, members = self._cached_rows((school.id, "groups"), lambda: self.render_groups(school))
        wanted = {kind.strip().lower() for kind in lookup.get("type", "").split(",") if kind.strip()}
        if wanted:
            groups = [row for row in groups if row["Type"].lower() in wanted]
        if item is not None:
            groups = [row for row in groups if row["Id"] == item]
        if lookup.get("code"):
            groups = [row for row in groups if row["Code"] == lookup["code"]]
        options = {
            option.strip().lower() for option in lookup.get("options", "").split(",") if option.strip()
        }
        datasets: dict[str, list[dict]] = {"Group": groups}
        if "includestudentmembers" in options:
            kept = {row["Id"] for row in groups}
            datasets["StudentMembers"] = [row for row in members if row["GroupId"] in kept]
        if "includestaffmembers" in options:
            datasets["StaffMembers"] = []
        return datasets, "Group"

    def render_groups(self, school: School) -> tuple[list[dict], list[dict]]:
        data = self.datasets_for(school)
        on_roll = {pupil.id: pupil for pupil in school.pupils}
        groups, members = [], []
        for group in data.groups:
            pupils = [on_roll[pupil_id] for pupil_id in group.member_ids if pupil_id in on_roll]
            group_id = _numeric(group.id)
            idaas = f"{'GY' if group.type == 'year' else 'GC'}-{group_id}"
            external = _guid(group.id)
            updated = local_timestamp(group.updated_at)
            groups.append(
                _hashed(
                    {
                        "Id": group_id,
                        "XID": "x" + group.id[-6:],
                        "ExternalId": external,
                        "IdaasId": idaas,
                        "Type": GROUP_TYPES[group.type],
                        "Code": group.code,
                        "Name": group_display_name(group),
                        "PrimaryStaffId": None,
                        "Staff": None,
                        "NumStudents": len(pupils),
                        "LastUpdated": updated,
                    }
                )
            )
            for pupil in pupils:
                members.append(
                    _hashed(
                        {
                            "Id": f"{idaas}.PL-{pupil.mis_id}",
                            "GroupId": group_id,
                            "StudentId": pupil.mis_id,
                            "GroupExternalId": external,
                            "StudentExternalId": str(uuid.UUID(hex=pupil.upi)),
                            "StudentIdaasId": f"PL-{pupil.mis_id}",
                            "GroupIdaasId": idaas,
                            "LastUpdated": updated,
                        }
                    )
                )
        return groups, members

    # Attendance -------------------------------------------------------------------------------
    def attendance(self, school: School, scopes, lookup, item):
        missing = [name for name in ("DateFrom", "DateTo", "SessionType") if not lookup.get(name.lower())]
        if missing:
            return xod_error(f"Mandatory parameter(s) missing: {', '.join(missing)}")
        session = lookup["sessiontype"].upper()
        if session not in ("AM", "PM"):
            return xod_error("SessionType must be AM or PM")
        try:
            start, end = (
                date.fromisoformat(lookup["datefrom"][:10]),
                date.fromisoformat(lookup["dateto"][:10]),
            )
        except ValueError:
            return xod_error("DateFrom and DateTo must be dates (yyyy-MM-dd)")
        options = {
            option.strip().lower() for option in lookup.get("options", "").split(",") if option.strip()
        }
        leavers = "includeleavers" in options
        rows = self._cached_rows(
            (school.id, "attendance", leavers), lambda: self.render_attendance(school, leavers)
        )
        rows = [
            row
            for row in rows
            if row["Session"] == session and start.isoformat() <= row["Date"] <= end.isoformat()
        ]
        if item is not None:
            rows = [row for row in rows if row["StudentId"] == item]
        if "excludenomarks" in options:
            rows = [row for row in rows if row["Mark"] != "-"]
        if "excludeclosed" in options:
            rows = [row for row in rows if row["Mark"] != "#"]
        return {"AttendMarks": rows}, "AttendMarks"

    def render_attendance(self, school: School, include_leavers: bool = False) -> list[dict]:
        """On-roll pupils' marks, then (`includeLeavers`) leavers' marks up to their leaving date."""
        data = self.datasets_for(school)
        marks = data.attendance + (data.leaver_attendance if include_leavers else [])
        return [
            _with_inferred(
                {
                    "Id": f"{mark.mis_id}.{mark.date.isoformat()}.{mark.session}",
                    "Date": mark.date.isoformat(),
                    "InstanceId": _local(mark.id, school),
                    "StudentId": mark.mis_id,
                    "Mark": mark.code,
                    "MinsLate": 5 if mark.code in ("L", "U") else None,
                    "Notes": None,
                    "Type": "S",
                    "Session": mark.session,
                },
                {"LastUpdated": local_timestamp(mark.updated_at)},
                self.inferred_fields,
            )  # INFERENCE
            for mark in marks
        ]

    # Assessment -------------------------------------------------------------------------------
    def assessment_structure(self, school: School, scopes, lookup, item):
        data = self.datasets_for(school)
        serve = self.inferred_fields  # INFERENCE: their RowHash
        aspects = [
            _with_inferred(
                {
                    "Id": _numeric(a.id),
                    "ExternalId": _guid(a.id),
                    "AspectType": "Grade",
                    "Name": a.name,
                    "Description": a.name,
                    "Supplier": None,
                    "GradeSetId": None,
                },
                {},
                serve,
            )
            for a in data.aspects
        ]
        result_sets = [
            _with_inferred({"Id": _numeric(r.id), "ExternalId": _guid(r.id), "Name": r.name}, {}, serve)
            for r in data.result_sets
        ]
        return {"Aspects": aspects, "ResultSets": result_sets}, "Aspects"

    def assessment_results(self, school: School, scopes, lookup, item):
        filters = ("students", "groups", "aspects", "resultsets", "templates", "columns", "marksheets")
        if not any(lookup.get(name) for name in filters):
            return xod_error(
                "At least one of Students, Groups, Aspects, ResultSets, Templates, Columns or "
                "Marksheets must be given"
            )
        rows = self._cached_rows((school.id, "results"), lambda: self.render_results(school))

        def csv(name: str) -> list[str]:
            return [value.strip() for value in lookup.get(name, "").split(",") if value.strip()]

        if csv("students"):
            rows = [row for row in rows if row["StudentId"] in set(csv("students"))]
        if csv("resultsets"):
            rows = [row for row in rows if row["ResultSetId"] in set(csv("resultsets"))]
        if csv("aspects"):  # `702|34` pairs an aspect with a result set
            pairs = [value.partition("|") for value in csv("aspects")]
            rows = [
                row
                for row in rows
                if any(
                    row["AspectId"] == aspect and (not result_set or row["ResultSetId"] == result_set)
                    for aspect, _, result_set in pairs
                )
            ]
        if csv("groups"):
            _, members = self._cached_rows((school.id, "groups"), lambda: self.render_groups(school))
            students = {row["StudentId"] for row in members if row["GroupId"] in set(csv("groups"))}
            rows = [row for row in rows if row["StudentId"] in students]
        if lookup.get("resultdatefrom"):
            rows = [row for row in rows if row["ResultDate"] >= lookup["resultdatefrom"][:10]]
        if lookup.get("resultdateto"):
            rows = [row for row in rows if row["ResultDate"] <= lookup["resultdateto"][:10]]
        return {"AsmResults": rows}, "AsmResults"

    def render_results(self, school: School) -> list[dict]:
        """Every result the MIS holds, leavers' too (INFERENCE: the results endpoint has no
        leaver option; a leaver's results stay in the MIS, as on Wonde's results endpoint)."""
        return [
            _with_inferred(
                {
                    "Id": _local(result.id, school),
                    "StudentId": result.mis_id,
                    "AspectId": _numeric(result.aspect_id),
                    "ResultDate": result.result_date.isoformat(),
                    "ResultSetId": _numeric(result.result_set_id),
                    "Result": result.result,
                    "Notes": None,
                },
                {"LastUpdated": local_timestamp(result.updated_at)},
                self.inferred_fields,
            )  # INFERENCE
            for result in self.datasets_for(school).results
        ]

    # -- envelope: changedRows, pagination, meta ------------------------------------------------
    def envelope(
        self,
        school: School,
        endpoint: str,
        params,
        lookup: dict,
        datasets: dict[str, list[dict]],
        primary: str,
    ) -> Response:
        estab = estab_of(school)
        extra: dict[str, list] = {}
        requested = lookup.get("changedrows")
        if requested:
            changed = self.changeset(estab, endpoint, params, requested, datasets)
            if changed is None:
                return xod_error(UNKNOWN_CHANGESET_MESSAGE)
            datasets, extra = changed
        page_size = _positive_int(lookup.get("pagesize"))
        number = _positive_int(lookup.get("page")) or 1
        rows = datasets[primary]
        out: dict[str, list] = {}
        pagination = None
        if page_size:
            count = len(rows)
            page_count = max(1, -(-count // page_size))
            start = (number - 1) * page_size
            out[primary] = rows[start : start + page_size]
            # NextPage is emitted even on the last page; clients loop on PageNumber < PageCount.
            pagination = [
                {
                    "PageSize": page_size,
                    "PageNumber": number,
                    "PageCount": page_count,
                    "RowCount": count,
                    "NextPage": f"?page={number + 1}&pageSize={page_size}",
                }
            ]
        else:
            out[primary] = rows
        first = number == 1
        for name, sibling in datasets.items():
            if name != primary:
                out[name] = sibling if first else []  # INFERENCE: sibling datasets come whole on page 1
        out["meta"] = (
            [
                {
                    "Id": 1,
                    "MIS": MIS_CODES.get(school.mis, school.mis.lower()),
                    "Version": "4",
                    "DateTime": local_timestamp(datetime.now(UTC)),
                }
            ]
            if first
            else []
        )
        for name, value in extra.items():
            out[name] = value if (first or name == "__changedRows__") else []
        if pagination is not None:
            out["__pagination__"] = pagination
        return 200, dict(JSON_HEADERS), to_json(out)

    def _row_hash(self, row: dict) -> str:
        """The served RowHash, or one computed for a row served without it (documented shapes),
        remembered for as long as the row is cached."""
        served = row.get("RowHash")
        if served is not None:
            return served
        with self._lock:
            known = self._unserved_hashes.get(id(row))
        if known is None or known[0] is not row:
            known = (row, row_hash(row))
            with self._lock:
                self._unserved_hashes[id(row)] = known
        return known[1]

    def changeset(self, estab: str, endpoint: str, params, requested: str, datasets: dict[str, list[dict]]):
        """`changedRows` (connectors.md §2.5): `*` → everything and a new hash; a known hash → rows
        new or changed since that snapshot, plus `{Dataset}_deleted`. The snapshot is compared
        whatever parameters produced it, which yields the documented spurious deletions."""
        key = _snapshot_params(params)
        current = {name: {row["Id"]: self._row_hash(row) for row in rows} for name, rows in datasets.items()}
        digest = hashlib.md5(json.dumps([estab, endpoint, key, current], sort_keys=True).encode()).hexdigest()
        now = self.clock()
        with self._lock:
            if requested == "*":
                previous = None
            else:
                previous = self._snapshots.get(requested)
                expired = (
                    previous is not None
                    and self.snapshot_ttl_seconds is not None
                    and now - previous.created > self.snapshot_ttl_seconds
                )
                if previous is None or expired or (previous.estab, previous.endpoint) != (estab, endpoint):
                    return None
            if digest not in self._snapshots:
                self._snapshots[digest] = _Snapshot(estab, endpoint, key, current, now, requested)
        deleted: dict[str, list] = {}
        if previous is not None:
            datasets = {
                name: [
                    row
                    for row in rows
                    if previous.rows.get(name, {}).get(row["Id"]) != current[name][row["Id"]]
                ]
                for name, rows in datasets.items()
            }
            deleted = {
                name: [
                    {"Id": row_id} for row_id in previous.rows.get(name, {}) if row_id not in current[name]
                ]
                for name in datasets
            }
        extra: dict[str, list] = {f"{name}_deleted": deleted.get(name, []) for name in datasets}
        extra["__changedRows__"] = [
            {
                "SnapshotDate": utc_timestamp(datetime.fromtimestamp(previous.created, UTC))
                if previous
                else None,
                "SnapshotRP": self.relying_party if previous else None,
                "PreviousChangedRows": previous.previous if previous else None,
                "RequestedChangedRows": requested,
                "NextChangedRows": digest,
                "NextUrl": f"?changedRows={digest}",
            }
        ]
        return datasets, extra


def _snapshot_params(params) -> tuple:
    return tuple(sorted((key.lower(), value) for key, value in params if key.lower() not in PAGING_KEYS))


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text else None
    except ValueError:
        return None
    return value if value and value > 0 else None


def _parse_local(text: str) -> datetime:
    """A zone-less XoD timestamp (any fraction length) or one with Z/offset → aware datetime."""
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?", text.strip()
    )
    if match is None:
        raise ValueError("not an XoD timestamp")
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base + (f".{fraction[:6]:0<6}" if fraction else ""))
    if zone:
        return moment.replace(
            tzinfo=UTC if zone == "Z" else datetime.strptime(zone.replace(":", ""), "%z").tzinfo
        )
    return moment.replace(tzinfo=TIMESTAMP_ZONE)
