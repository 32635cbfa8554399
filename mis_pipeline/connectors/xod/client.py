"""Groupcall Xporter on Demand (XoD) client as a Dagster resource (connectors.md §2).

One school token per estab, from that school's secret (`school_secrets_path`, a JSON file
`{"<estab>": "<schoolSecret>"}`; in production its path comes from XPORTER_SCHOOL_SECRETS). Tokens
are cached per estab and refreshed ahead of `expires`. Every response is checked for a non-null
`ExceptionMessage` before anything else, because XoD reports errors under HTTP 200.

Secrets and tokens never appear in exceptions or logs; messages name the estab and the endpoint.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import requests
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from mis_pipeline.connectors.errors import (
    ConnectorAuthError,
    ConnectorUnavailableError,
    InvalidResponseError,
    NotAuthorisedError,
)
from mis_pipeline.connectors.http import (
    BACKOFF_MAX_SECONDS,
    HOST_RATE_LIMITER,
    RETRY_AFTER_MAX_SECONDS,
    RETRY_STATUSES,
    CertificateVerificationError,
    build_session,
    check_transport,
    get_json,
    host_and_port,
    is_certificate_failure,
)

SECRETS_ENV = "XPORTER_SCHOOL_SECRETS"
THIRD_PARTY_ID = "XporterOnDemand"
PAUSED_MARKER = "authorisation is currently paused"
REFRESH_MARGIN_SECONDS = 600.0  # refresh 10 minutes before expiry, or at 90% of a shorter lifetime
MAX_PAGES = 100_000  # a PageCount that keeps growing must not loop for ever

# Parameters per endpoint, kept identical between calls: changedRows compares against a snapshot
# taken with the same parameters, and different ones yield spurious deletions (connectors.md §2.5).
STUDENT_PARAMS = {"options": "includeLeavers"}  # leavers stay visible, so they are told apart from deletions
GROUP_PARAMS = {"options": "includeStudentMembers"}
# Leavers' marks too: they are still the school's pupils until the retention purge.
ATTENDANCE_OPTIONS = "includeLeavers"
_LOCAL_LOCK = threading.Lock()
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]{0,120}$")


class SchoolPausedAtConnectorError(NotAuthorisedError):
    """The school has authorised the app but is still choosing which people to include
    (AuthorisationPaused). Expected and temporary: callers record it and try on a later run,
    never in a loop."""


class XodResponseError(InvalidResponseError):
    """XoD answered with a non-null `ExceptionMessage` (often under HTTP 200)."""


class XodChangesetError(XodResponseError):
    """A `changedRows` hash was refused (unknown or expired): start again from `*`."""


def changes_key(endpoint: str, params: Mapping[str, str]) -> str:
    """What identifies one `changedRows` chain: the endpoint and every parameter but the cursor.
    A hash is only good for the exact call that produced it (connectors.md §2.5), so a caller
    stores hashes under this key and starts again from `*` when its parameters change."""
    return endpoint + "?" + urlencode(sorted((k, str(v)) for k, v in params.items() if k != "changedRows"))


def _exception_type(body: dict) -> str:
    kind = body.get("ExceptionType")
    return f" ({kind})" if isinstance(kind, str) and _IDENTIFIER.match(kind) else ""


def has_exception(body: Any) -> bool:
    return isinstance(body, dict) and body.get("ExceptionMessage") is not None


# How an ExceptionMessage under HTTP 200 is treated (connectors.md §2.6, §2.7: the wording of
# real messages is not documented; these patterns are INFERENCE, matched case-insensitively).
TRANSIENT, REFUSED, FAILED = "transient", "refused", "failed"
_TRANSIENT = re.compile(
    r"unavailable|time[d]?\s?out|not responding|could not (?:be )?reach|could not connect|"
    r"try again|temporarily|offline|busy",
    re.IGNORECASE,
)
_REFUSED = re.compile(
    r"scope|not (?:been )?authori[sz]ed|authori[sz]ation has been denied|access (?:is )?denied|"
    r"permission",
    re.IGNORECASE,
)
REFUSAL_REASON = "the school has not authorised this data item (scope)"


def classify_exception(message: str | None) -> str:
    """`transient` (the MIS or the school's server unavailable, a timeout: retried with backoff
    within the run, as a 503), `refused` (one data item not authorised: that item fails for the
    school, its other items carry on) or `failed` (anything else: the school fails this run)."""
    text = message or ""
    if _TRANSIENT.search(text):
        return TRANSIENT
    if _REFUSED.search(text):
        return REFUSED
    return FAILED


def parse_expires(text: Any) -> float | None:
    """`2021-04-17T09:34:46.4025550Z` (up to 7 fraction digits) → epoch seconds; None for
    `0001-01-01T00:00:00` or anything unreadable."""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?", text.strip()
    )
    if match is None:
        return None
    base, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(base + (f".{fraction[:6]:0<6}" if fraction else ""))
    except ValueError:
        return None
    if moment.year < 1900:
        return None
    offset = UTC if zone in (None, "Z") else datetime.strptime(zone.replace(":", ""), "%z").tzinfo
    return moment.replace(tzinfo=offset).timestamp()


@dataclass
class _Token:
    value: str
    expires: float
    refresh_at: float


@dataclass
class XodChangeset:
    """The result of one `changedRows` read. Iterate `pages()` to the end first; only then are
    `next_cursor` (the NextChangedRows hash to store) and `deleted_ids` complete."""

    estab: str
    endpoint: str
    dataset: str
    requested: str
    _pages: Iterator[dict] = field(repr=False)
    key: str = ""  # `changes_key` of the call: store `next_cursor` under it
    _deleted: list[str] = field(default_factory=list, repr=False)
    _next: str | None = field(default=None, repr=False)
    _done: bool = field(default=False, repr=False)

    @property
    def full(self) -> bool:
        """True when this was a full read (`*`): rows absent from it are gone."""
        return self.requested == "*"

    def pages(self) -> Iterator[list[dict]]:
        for body in self._pages:
            for row in body.get(f"{self.dataset}_deleted") or []:
                if isinstance(row, dict) and row.get("Id") is not None:
                    self._deleted.append(str(row["Id"]))
            info = body.get("__changedRows__")
            if (
                isinstance(info, list)
                and info
                and isinstance(info[0], dict)
                and info[0].get("NextChangedRows")
            ):
                self._next = str(info[0]["NextChangedRows"])
            yield body.get(self.dataset) or []
        if self._next is None:
            raise InvalidResponseError(
                f"estab {self.estab}: {self.endpoint} answered without __changedRows__", school_id=self.estab
            )
        self._done = True

    @property
    def deleted_ids(self) -> list[str]:
        self._require_done()
        return list(self._deleted)

    @property
    def next_cursor(self) -> str:
        self._require_done()
        return self._next  # type: ignore[return-value]

    def _require_done(self) -> None:
        if not self._done:
            raise RuntimeError("read every page of the changeset before using its cursor or deletions")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, _Token] = {}
        self.estab_locks: dict[str, threading.Lock] = {}
        self.scopes: dict[str, tuple[str, frozenset[str]]] = {}  # estab -> (token value, scopes)
        self.local = threading.local()
        self.secrets: dict[str, str] = {}
        self.secrets_stamp: tuple | None = None


class XodResource(ConfigurableResource):
    """Reads school data from XoD for one relying party. Safe to share across threads."""

    api_url: str = "https://xporter.groupcall.com/api"
    relying_party: str
    school_secrets_path: str = ""  # "" = the path in XPORTER_SCHOOL_SECRETS
    page_size: int = 500
    timeout_seconds: float = 30.0
    max_retries: int = 5
    backoff_factor: float = 0.5
    requests_per_second: float = 5.0  # XoD publishes no limit (connectors.md §2.6); stay polite

    _state: Any = PrivateAttr(default=None)

    # -- public API ------------------------------------------------------------------------
    def school_estabs(self) -> list[str]:
        """The schools that have authorised us: the estabs in the secrets file (never the secrets).
        Empty when no secrets file is configured."""
        path = self.school_secrets_path or os.environ.get(SECRETS_ENV, "")
        return sorted(_read_secrets(path)) if path else []

    def granted_scopes(self, estab: str) -> frozenset[str]:
        """The scopes the school granted (TokenDetails), cached with the token."""
        token = self._token(estab)
        state = self._st()
        with state.lock:
            cached = state.scopes.get(estab)
        if cached is not None and cached[0] == token:
            return cached[1]
        body = self._get(estab, f"{self._base}/v1/TokenDetails", None, "TokenDetails")
        scopes = body.get("Scopes")
        if not isinstance(scopes, list):
            raise InvalidResponseError(f"estab {estab}: TokenDetails has no Scopes list", school_id=estab)
        result = frozenset(str(scope) for scope in scopes)
        with state.lock:
            state.scopes[estab] = (token, result)
        return result

    def school_info(self, estab: str) -> dict:
        body = self._get(estab, self._url(estab, "SchoolInfo"), None, "SchoolInfo")
        rows = body.get("SchoolInfo")
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
            raise InvalidResponseError(f"estab {estab}: SchoolInfo has no row", school_id=estab)
        return rows[0]

    def iter_student_pages(self, estab: str) -> Iterator[list[dict]]:
        """Every student, leavers included (`includeLeavers`), one page of rows at a time."""
        self._require_scope(estab, ("Student", "StudentLite"), "Students")
        for body in self.iter_pages(estab, "Students", STUDENT_PARAMS):
            yield _dataset(body, "Students", estab)

    def student_changes(self, estab: str, cursor: str | None) -> XodChangeset:
        """Students new or changed since `cursor` (a NextChangedRows hash; None = full read),
        with the same parameters as `iter_student_pages`."""
        self._require_scope(estab, ("Student", "StudentLite"), "Students")
        return self.iter_changed(estab, "Students", STUDENT_PARAMS, cursor, dataset="Students")

    def iter_group_pages(self, estab: str) -> Iterator[dict[str, list[dict]]]:
        """Pages of `{"Group": [...], "StudentMembers": [...]}` (members join on GroupId)."""
        self._require_scope(estab, ("School",), "Groups")
        for body in self.iter_pages(estab, "Groups", GROUP_PARAMS):
            yield {
                "Group": _dataset(body, "Group", estab),
                "StudentMembers": body.get("StudentMembers") or [],
            }

    def iter_attendance_pages(self, estab: str, date_from: date, date_to: date) -> Iterator[list[dict]]:
        """Session marks (AM, then PM) for the inclusive date range; `-`/`#` pseudo-marks kept."""
        self._require_scope(estab, ("Attendance",), "AttendanceForDateRange")
        for session in ("AM", "PM"):
            for body in self.iter_pages(
                estab, "AttendanceForDateRange", _attendance_params(date_from, date_to, session)
            ):
                yield _dataset(body, "AttendMarks", estab)

    def attendance_changes(
        self, estab: str, date_from: date, date_to: date, session: str, cursors: Mapping[str, str]
    ) -> XodChangeset:
        """One session's marks (AM or PM: separate calls, so separate changedRows chains) new or
        changed since the hash `cursors` holds under this call's `changes_key` (none: all of them).
        Keep the range fixed (a whole school year) so the chain lasts."""
        self._require_scope(estab, ("Attendance",), "AttendanceForDateRange")
        params = _attendance_params(date_from, date_to, session)
        cursor = cursors.get(changes_key("AttendanceForDateRange", params))
        return self.iter_changed(estab, "AttendanceForDateRange", params, cursor, dataset="AttendMarks")

    def assessment_structure(self, estab: str) -> tuple[dict[str, str], dict[str, str]]:
        """(aspect Id → name, result set Id → name)."""
        body = self._get(estab, self._url(estab, "assessmentstructure"), None, "assessmentstructure")
        aspects = {str(row["Id"]): row.get("Name") for row in _dataset(body, "Aspects", estab)}
        result_sets = {str(row["Id"]): row.get("Name") for row in _dataset(body, "ResultSets", estab)}
        return aspects, result_sets

    def iter_assessment_pages(self, estab: str) -> Iterator[list[dict]]:
        """Every result for every aspect. Rows gain `AspectName` and `ResultSetName` (added by this
        client from assessmentstructure, since XoD result rows carry only the ids)."""
        self._require_scope(estab, ("AssessmentResults",), "assessmentresults")
        aspects, result_sets = self.assessment_structure(estab)
        if not aspects:
            return
        for body in self.iter_pages(estab, "assessmentresults", _results_params(aspects)):
            yield _named_results(_dataset(body, "AsmResults", estab), aspects, result_sets)

    def assessment_changes(self, estab: str, cursors: Mapping[str, str]) -> XodChangeset | None:
        """Results new or changed since the hash `cursors` holds under this call's `changes_key`,
        named as `iter_assessment_pages` names them; None when the school has no aspects. The
        call lists every aspect, so a new aspect changes the key and starts a fresh chain."""
        self._require_scope(estab, ("AssessmentResults",), "assessmentresults")
        aspects, result_sets = self.assessment_structure(estab)
        if not aspects:
            return None
        params = _results_params(aspects)
        return self.iter_changed(
            estab,
            "assessmentresults",
            params,
            cursors.get(changes_key("assessmentresults", params)),
            dataset="AsmResults",
            annotate=lambda rows: _named_results(rows, aspects, result_sets),
        )

    # -- generic reads ---------------------------------------------------------------------
    def iter_pages(self, estab: str, endpoint: str, params: dict[str, str] | None = None) -> Iterator[dict]:
        """Whole response bodies, page by page: loops on PageNumber < PageCount and never on
        `NextPage`, which XoD also sends on the last page."""
        base = dict(params or {})
        url = self._url(estab, endpoint)
        number = 1
        while True:
            body = self._get(estab, url, {**base, "page": number, "pageSize": self.page_size}, endpoint)
            yield body
            pagination = body.get("__pagination__")
            if not pagination:
                return  # unpaged: everything came in one response
            info = pagination[0] if isinstance(pagination, list) and pagination else None
            try:
                page_number, page_count = int(info["PageNumber"]), int(info["PageCount"])
            except (TypeError, KeyError, ValueError) as exc:
                raise InvalidResponseError(
                    f"estab {estab}: unreadable __pagination__ from {endpoint}", school_id=estab
                ) from exc
            if page_number != number:
                raise InvalidResponseError(
                    f"estab {estab}: {endpoint} answered page {page_number} for page {number}",
                    school_id=estab,
                )
            if page_number >= page_count:
                return
            number += 1
            if number > MAX_PAGES:
                raise InvalidResponseError(
                    f"estab {estab}: {endpoint} pagination does not end", school_id=estab
                )

    def iter_changed(
        self,
        estab: str,
        endpoint: str,
        params: dict[str, str] | None,
        cursor: str | None,
        *,
        dataset: str,
        annotate=None,
    ) -> XodChangeset:
        """A `changedRows` read of `endpoint`: `cursor` None or `*` = everything plus a first hash.
        `params` must be identical on every call for the same cursor chain. `annotate`, if given,
        is applied to each page's `dataset` rows in place."""
        requested = cursor or "*"
        merged = {**(params or {}), "changedRows": requested}

        def pages() -> Iterator[dict]:
            try:
                for body in self.iter_pages(estab, endpoint, merged):
                    if annotate is not None:
                        annotate(body.get(dataset) or [])
                    yield body
            except XodChangesetError:
                raise
            except XodResponseError as exc:
                if requested == "*":
                    raise
                raise XodChangesetError(
                    f"estab {estab}: {endpoint} refused the changedRows cursor; start again with a full read",
                    school_id=estab,
                    path=exc.path,
                ) from exc

        return XodChangeset(estab, endpoint, dataset, requested, pages(), key=changes_key(endpoint, merged))

    # -- plumbing --------------------------------------------------------------------------
    @property
    def _base(self) -> str:
        return self.api_url.rstrip("/")

    def _url(self, estab: str, endpoint: str) -> str:
        if not re.fullmatch(r"\d{7}", estab or ""):
            raise ValueError("an estab is 7 digits (LA code + establishment number)")
        return f"{self._base}/v1/School/{estab}/{endpoint}"

    def _require_scope(self, estab: str, any_of: tuple[str, ...], endpoint: str) -> None:
        if not self.granted_scopes(estab) & set(any_of):
            raise NotAuthorisedError(
                f"estab {estab}: the school has not granted the {any_of[0]} scope needed for {endpoint}",
                school_id=estab,
            )

    def _get(self, estab: str, url: str, params: dict | None, endpoint: str) -> dict:
        """One response body. An error in a 200 body is classified: transient ones are asked
        again with backoff (like a 503), a refused item raises NotAuthorisedError, others fail.
        Messages never quote the ExceptionMessage, which could carry a value."""
        attempts = max(1, self.max_retries)
        for attempt in range(1, attempts + 1):
            body = self._get_body(estab, url, params, endpoint)
            if not has_exception(body):
                return body
            kind = classify_exception(str(body.get("ExceptionMessage")))
            if kind == TRANSIENT and attempt < attempts:
                time.sleep(min(self.backoff_factor * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS))
                continue
            if kind == TRANSIENT:
                raise ConnectorUnavailableError(
                    f"estab {estab}: XoD reported {endpoint} unavailable after {attempts} attempts",
                    status=200,
                    school_id=estab,
                )
            if kind == REFUSED:
                raise NotAuthorisedError(
                    f"estab {estab}: XoD refused {endpoint}: {REFUSAL_REASON}", status=200, school_id=estab
                )
            raise XodResponseError(
                f"estab {estab}: XoD reported an error for {endpoint}{_exception_type(body)}",
                status=200,
                school_id=estab,
            )
        raise AssertionError("unreachable")

    def _get_body(self, estab: str, url: str, params: dict | None, endpoint: str) -> dict:
        check_transport(url)
        for attempt in (1, 2):
            token = self._token(estab)
            session = self._session()
            session.headers["Authorization"] = f"Idaas {token}"
            try:
                return get_json(
                    session,
                    url,
                    params,
                    timeout=self.timeout_seconds,
                    attempts=max(1, self.max_retries),
                    backoff=self.backoff_factor,
                    school_id=estab,
                    requests_per_second=self.requests_per_second,
                )
            except ConnectorAuthError:
                # The token expired early or was revoked server-side: one fresh token, once.
                self._forget_token(estab, token)
                if attempt == 2:
                    raise
            finally:
                session.headers.pop("Authorization", None)
        raise AssertionError("unreachable")

    # tokens -------------------------------------------------------------------------------
    def _token(self, estab: str) -> str:
        state = self._st()
        with state.lock:
            token = state.tokens.get(estab)
            estab_lock = state.estab_locks.setdefault(estab, threading.Lock())
        if token is not None and time.time() < token.refresh_at:
            return token.value
        with estab_lock:  # one GetToken per estab at a time; others wait and reuse it
            with state.lock:
                token = state.tokens.get(estab)
            if token is not None and time.time() < token.refresh_at:
                return token.value
            token = self._request_token(estab)
            with state.lock:
                state.tokens[estab] = token
            return token.value

    def _forget_token(self, estab: str, value: str) -> None:
        state = self._st()
        with state.lock:
            token = state.tokens.get(estab)
            if token is not None and token.value == value:
                del state.tokens[estab]

    def _request_token(self, estab: str) -> _Token:
        secret = self._secret(estab)
        body = self._post_json(
            f"{self._base}/oauth/GetToken",
            {
                "estab": estab,
                "relyingParty": self.relying_party,
                "password": secret,
                "thirdpartyid": THIRD_PARTY_ID,
            },
            estab,
        )
        message = body.get("ExceptionMessage")
        value = body.get("token")
        if isinstance(message, str) and PAUSED_MARKER in message.lower():
            raise SchoolPausedAtConnectorError(
                f"estab {estab}: authorisation is paused while the school chooses whom to include",
                school_id=estab,
            )
        if message is not None or not isinstance(value, str) or not value:
            raise ConnectorAuthError(
                f"estab {estab}: XoD refused a token (secret wrong, or access revoked)", school_id=estab
            )
        now = time.time()
        expires = parse_expires(body.get("expires"))
        if expires is None or expires <= now:
            raise InvalidResponseError(f"estab {estab}: token answer has no usable expiry", school_id=estab)
        margin = min(REFRESH_MARGIN_SECONDS, 0.1 * (expires - now))
        return _Token(value, expires, expires - margin)

    def _secret(self, estab: str) -> str:
        path = self.school_secrets_path or os.environ.get(SECRETS_ENV, "")
        if not path:
            raise ConnectorAuthError(
                f"estab {estab}: no XoD school secrets file configured ({SECRETS_ENV})", school_id=estab
            )
        state = self._st()
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise ConnectorAuthError(
                f"estab {estab}: the XoD school secrets file cannot be read", school_id=estab
            ) from exc
        stamp = (path, stat.st_mtime_ns, stat.st_size)
        with state.lock:
            if state.secrets_stamp != stamp:  # re-read when a school re-authorises with a new secret
                state.secrets = _read_secrets(path)
                state.secrets_stamp = stamp
            secret = state.secrets.get(estab)
        if not secret:
            raise ConnectorAuthError(f"estab {estab}: no XoD school secret on file", school_id=estab)
        return secret

    def _post_json(self, url: str, payload: dict, estab: str) -> dict:
        """POST JSON with bounded retries on 429/5xx and connection failures (http.get_json is
        GET-only; GetToken is safe to repeat). The body carries the secret: nothing about the
        request goes into an error."""
        check_transport(url)
        path = "/oauth/GetToken"
        attempts = max(1, self.max_retries)
        for attempt in range(1, attempts + 1):
            delay = min(self.backoff_factor * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)
            try:
                HOST_RATE_LIMITER.wait(url, self.requests_per_second)
                response = self._session().post(url, json=payload, timeout=self.timeout_seconds)
            except requests.exceptions.RequestException as exc:
                if is_certificate_failure(exc):  # retrying cannot make an unproven host trustworthy
                    raise CertificateVerificationError(
                        f"TLS certificate verification failed for {host_and_port(url)} (token request for estab "
                        f"{estab}): if this is a private CA, set REQUESTS_CA_BUNDLE to its PEM file",
                        path=path,
                        school_id=estab,
                    ) from None
                if attempt == attempts:
                    raise ConnectorUnavailableError(
                        f"estab {estab}: token request failed after {attempts} attempts",
                        path=path,
                        school_id=estab,
                    ) from None
                time.sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES:
                if attempt == attempts:
                    raise ConnectorUnavailableError(
                        f"estab {estab}: token service unavailable (HTTP {response.status_code})",
                        status=response.status_code,
                        path=path,
                        school_id=estab,
                    )
                retry_after = response.headers.get("Retry-After", "")
                time.sleep(
                    min(float(retry_after), RETRY_AFTER_MAX_SECONDS) if retry_after.isdigit() else delay
                )
                continue
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                if attempt == attempts:
                    raise InvalidResponseError(
                        f"estab {estab}: token answer is not a JSON object (HTTP {response.status_code})",
                        status=response.status_code,
                        path=path,
                        school_id=estab,
                    )
                time.sleep(delay)
                continue
            return body
        raise AssertionError("unreachable")

    def _session(self) -> requests.Session:
        local = self._st().local
        session = getattr(local, "session", None)
        if session is None:
            session = build_session(self.max_retries, self.backoff_factor)
            session.headers["Accept"] = "application/json"
            local.session = session
        return session

    def _st(self) -> _State:
        # Created lazily: locks cannot be copied or pickled with the resource config.
        if self._state is None:
            with _LOCAL_LOCK:
                if self._state is None:
                    self._state = _State()
        return self._state


def _read_secrets(path: str) -> dict[str, str]:
    """{estab: secret} from the secrets file; its content never reaches an error message."""
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError):
        raise ConnectorAuthError("the XoD school secrets file is not a readable JSON object") from None
    if not isinstance(loaded, dict):
        raise ConnectorAuthError("the XoD school secrets file is not a JSON object")
    return {str(key): str(value) for key, value in loaded.items()}


def _attendance_params(date_from: date, date_to: date, session: str) -> dict[str, str]:
    return {
        "DateFrom": date_from.isoformat(),
        "DateTo": date_to.isoformat(),
        "SessionType": session,
        "options": ATTENDANCE_OPTIONS,
    }


def _results_params(aspects: Mapping[str, str]) -> dict[str, str]:
    return {"Aspects": ",".join(sorted(aspects))}  # at least one filter is mandatory


def _named_results(
    rows: list[dict], aspects: Mapping[str, str], result_sets: Mapping[str, str]
) -> list[dict]:
    for row in rows:
        row.setdefault("AspectName", aspects.get(str(row.get("AspectId"))))
        row.setdefault("ResultSetName", result_sets.get(str(row.get("ResultSetId"))))
    return rows


def _dataset(body: dict, name: str, estab: str) -> list[dict]:
    rows = body.get(name)
    if not isinstance(rows, list):
        raise InvalidResponseError(f"estab {estab}: response has no {name} list", school_id=estab)
    return rows
