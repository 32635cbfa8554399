"""Wonde v1.0 client as a Dagster resource: approved schools, permissions, student pages."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from mis_pipeline.connectors.errors import InsecureTransportError, InvalidResponseError
from mis_pipeline.connectors.http import LOOPBACK_HOSTS, build_session, check_transport, get_json, same_origin

_LOCAL_LOCK = threading.Lock()
# Regional API hosts are all under wonde.com (connectors.md §1.2). The domain comes from a
# response body, and we would send our token there, so nothing else is accepted.
_WONDE_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+wonde\.com$")


def parse_pagination(body: dict) -> dict | None:
    """`meta.pagination` with types coerced (per_page is a string in older responses), or
    None when absent: Wonde omits it for small results and the PHP client tolerates no meta."""
    meta = body.get("meta") or {}
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(pagination, dict):
        return None
    return {
        "next": pagination.get("next") or None,
        "previous": pagination.get("previous") or None,
        "more": bool(pagination.get("more")),
        "per_page": _as_int(pagination.get("per_page")),
        "current_page": _as_int(pagination.get("current_page")),
    }


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_loopback_listener(domain: str) -> bool:
    """`127.0.0.1:8711`-like: a loopback host with an explicit port."""
    match = re.fullmatch(r"(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})", domain)
    return match is not None and 0 < int(match.group(2)) < 65536


def format_updated_after(moment: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class WondeResource(ConfigurableResource):
    """Reads one Wonde application's data. Safe to share across threads: each thread gets its
    own `requests.Session`, because sessions are not documented as thread-safe."""

    api_url: str = "https://api.wonde.com/v1.0"
    api_token: str
    per_page: int = 200
    timeout_seconds: float = 30.0
    max_retries: int = 5
    auth_scheme: str = "bearer"  # "bearer" (Wonde's preferred form) or "basic"
    backoff_factor: float = 0.5
    # Polite pacing per API host, shared by every thread of the process (0 = unlimited).
    # Wonde publishes no limit (connectors.md §1.7), so stay well below anything plausible.
    requests_per_second: float = 10.0

    _local: Any = PrivateAttr(default=None)

    # -- public API ------------------------------------------------------------------------
    def iter_approved_schools(self) -> Iterator[dict]:
        for page in self._iter_pages(f"{self._base}/schools", {"per_page": self.per_page}):
            yield from page

    def school_base_url(self, school: dict) -> str:
        """The API base that serves `school` (connectors.md §1.2: "using the wrong domain for a
        school will return no data"): the configured URL unless the school's `region.domain`
        names another host, which must be under wonde.com (we send it our token).

        Against a loopback simulator (configured URL on 127.0.0.1/localhost), a real regional
        domain is kept on the simulator, and a loopback `host:port` domain (how the simulator
        names a region it serves on a listener of its own) is followed with the configured scheme."""
        configured = self._base
        region = school.get("region")
        domain = (
            str((region.get("domain") if isinstance(region, dict) else None) or "")
            .strip()
            .lower()
            .rstrip(".")
        )
        parts = urlsplit(configured)
        host = (parts.hostname or "").lower()
        if not domain or domain == host:
            return configured
        if host in LOOPBACK_HOSTS:
            return f"{parts.scheme}://{domain}/v1.0" if _is_loopback_listener(domain) else configured
        if not _WONDE_DOMAIN.match(domain):
            raise InsecureTransportError(
                f"school {school.get('id')}: refusing region domain outside wonde.com",
                school_id=school.get("id"),
            )
        return f"https://{domain}/v1.0"

    def get_school(self, school_id: str, *, base_url: str | None = None) -> dict:
        body = self._get(f"{self._base_for(base_url)}/schools/{school_id}", None, school_id)
        data = body.get("data")
        if not isinstance(data, dict):
            raise InvalidResponseError(
                f"school {school_id}: response has no data object", school_id=school_id
            )
        return data

    def get_permissions(self, school_id: str, *, base_url: str | None = None) -> list[dict]:
        base = self._base_for(base_url)
        url = f"{base}/meta/schools/{school_id}/permissions"
        return [row for page in self._iter_pages(url, None, school_id, base) for row in page]

    def iter_student_pages(
        self, school_id: str, updated_after: datetime | None = None, *, base_url: str | None = None
    ) -> Iterator[list[dict]]:
        """Student pages with `education_details` (where the UPN lives), streamed one page at a
        time, from `base_url` (see `school_base_url`; None = the configured api_url)."""
        params: dict[str, Any] = {"include": "education_details", "per_page": self.per_page}
        if updated_after is not None:
            params["updated_after"] = format_updated_after(updated_after)
        base = self._base_for(base_url)
        yield from self._iter_pages(f"{base}/schools/{school_id}/students", params, school_id, base)

    # -- plumbing --------------------------------------------------------------------------
    @property
    def _base(self) -> str:
        return self.api_url.rstrip("/")

    def _base_for(self, base_url: str | None) -> str:
        return base_url.rstrip("/") if base_url else self._base

    def _iter_pages(
        self, url: str, params: dict | None, school_id: str | None = None, base: str | None = None
    ) -> Iterator[list[dict]]:
        seen: set[str] = set()
        origin = base or self._base
        while url:
            body = self._get(url, params, school_id)
            data = body.get("data")
            if not isinstance(data, list):
                raise InvalidResponseError(
                    f"expected a data list at {urlsplit(url).path}", school_id=school_id
                )
            yield data
            pagination = parse_pagination(body)
            url = pagination["next"] if pagination else None
            params = None  # `next` is opaque and already carries every parameter
            if url:
                self._check_next(url, seen, school_id, origin)

    def _check_next(self, url: str, seen: set[str], school_id: str | None, origin: str) -> None:
        path = urlsplit(url).path
        if not same_origin(url, origin):
            # The session would send our token to whatever host `next` names.
            raise InsecureTransportError(
                f"refusing next-page URL on another origin ({path})", path=path, school_id=school_id
            )
        if url in seen:
            raise InvalidResponseError(
                f"pagination loops back to an earlier page at {path}", path=path, school_id=school_id
            )
        seen.add(url)

    def _get(self, url: str, params: dict | None, school_id: str | None = None) -> dict:
        check_transport(url)
        return get_json(
            self._session(),
            url,
            params,
            timeout=self.timeout_seconds,
            attempts=max(1, self.max_retries),
            backoff=self.backoff_factor,
            school_id=school_id,
            requests_per_second=self.requests_per_second,
        )

    def _session(self) -> requests.Session:
        local = self._thread_local()
        session = getattr(local, "session", None)
        if session is None:
            session = build_session(self.max_retries, self.backoff_factor)
            session.headers["Authorization"] = self._authorization()
            session.headers["Accept"] = "application/json"
            local.session = session
        return session

    def _thread_local(self) -> threading.local:
        # Created lazily: a threading.local cannot be copied or pickled with the resource config.
        if self._local is None:
            with _LOCAL_LOCK:
                if self._local is None:
                    self._local = threading.local()
        return self._local

    def _authorization(self) -> str:
        scheme = self.auth_scheme.lower()
        if scheme == "bearer":
            return f"Bearer {self.api_token}"
        if scheme == "basic":
            return "Basic " + base64.b64encode(f"{self.api_token}:".encode()).decode("ascii")
        raise ValueError(f"auth_scheme must be 'bearer' or 'basic', not {self.auth_scheme!r}")
