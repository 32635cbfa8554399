"""HTTP plumbing shared by connectors: retrying sessions, transport checks, JSON fetching."""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from mis_pipeline.connectors.errors import (
    ConnectorAuthError,
    ConnectorError,
    ConnectorUnavailableError,
    InsecureTransportError,
    InvalidResponseError,
    NotAuthorisedError,
    UnknownSchoolError,
    describe,
)

RETRY_STATUSES = (429, 500, 502, 503, 504)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_ENV = "MIS_ALLOW_LOOPBACK_HTTP"
BACKOFF_MAX_SECONDS = 30.0
RETRY_AFTER_MAX_SECONDS = 120  # an absurd Retry-After must not park a sync for hours
# Errors raised while reading a body after the status line arrived: urllib3's Retry never
# sees these, so get_json retries them itself.
BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


def build_session(total_retries: int = 5, backoff_factor: float = 0.5) -> requests.Session:
    """A session that retries idempotent GETs on 429/5xx and connection failures, honouring
    Retry-After. TLS verification stays on (requests reads REQUESTS_CA_BUNDLE)."""
    retry = Retry(
        total=total_retries,
        connect=total_retries,
        read=total_retries,
        status=total_retries,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=BACKOFF_MAX_SECONDS,
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX_SECONDS,
        raise_on_status=False,  # hand back the last 5xx so we raise our own error
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def check_transport(url: str) -> None:
    """https always; plain http only to loopback and only when MIS_ALLOW_LOOPBACK_HTTP=1."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    path = parts.path or "/"
    if parts.scheme != "http":
        raise InsecureTransportError(f"refusing scheme {parts.scheme!r} for {path}: only https is allowed", path=path)
    if (parts.hostname or "") not in LOOPBACK_HOSTS:
        raise InsecureTransportError(f"refusing plain http to non-loopback host {parts.hostname} for {path}", path=path)
    if os.environ.get(LOOPBACK_ENV) != "1":
        raise InsecureTransportError(
            f"refusing plain http to {parts.hostname} for {path}: set {LOOPBACK_ENV}=1 to allow the local simulator",
            path=path,
        )


def same_origin(url: str, base: str) -> bool:
    """Scheme, host and effective port all match."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, (a.hostname or "").lower(), _port(a)) == (b.scheme, (b.hostname or "").lower(), _port(b))


def _port(parts) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def get_json(session: requests.Session, url: str, params: dict[str, Any] | None = None, *,
             timeout: float = 30.0, attempts: int = 3, backoff: float = 0.5,
             school_id: str | None = None) -> dict:
    """GET a JSON object. Retries (bounded, with backoff) truncated or non-JSON bodies, which
    urllib3's Retry cannot see; raises rather than ever returning an empty page silently."""
    path = urlsplit(url).path
    for attempt in range(1, attempts + 1):
        try:
            response = session.get(url, params=params, timeout=timeout)
            _raise_for_status(response.status_code, path, school_id)
            payload = orjson.loads(response.content)  # about twice as fast as the stdlib parser
        except (*BODY_ERRORS, orjson.JSONDecodeError) as exc:
            if attempt == attempts:
                raise InvalidResponseError(f"truncated or non-JSON body, {describe(200, path, school_id)}, "
                                           f"after {attempts} attempts", status=200, path=path,
                                           school_id=school_id) from exc
            time.sleep(min(backoff * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS))
            continue
        except requests.exceptions.RequestException as exc:
            raise ConnectorUnavailableError(f"request failed after retries ({type(exc).__name__}) for "
                                            f"{describe(None, path, school_id)}", path=path,
                                            school_id=school_id) from exc
        if not isinstance(payload, dict):
            raise InvalidResponseError(f"expected a JSON object, {describe(200, path, school_id)}",
                                       status=200, path=path, school_id=school_id)
        return payload
    raise AssertionError("unreachable")


def _raise_for_status(status: int, path: str, school_id: str | None) -> None:
    if status == 200:
        return
    where = describe(status, path, school_id)
    kwargs = {"status": status, "path": path, "school_id": school_id}
    if status == 401:
        raise ConnectorAuthError(f"authentication rejected: {where}", **kwargs)
    if status == 403:
        raise NotAuthorisedError(f"not authorised: {where}", **kwargs)
    if status == 404 and school_id:
        raise UnknownSchoolError(f"unknown school: {where}", **kwargs)
    if status in RETRY_STATUSES:
        raise ConnectorUnavailableError(f"service unavailable after retries: {where}", **kwargs)
    raise ConnectorError(f"unexpected status: {where}", **kwargs)
