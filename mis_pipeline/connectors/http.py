"""HTTP plumbing shared by connectors: retrying sessions, transport checks, polite pacing,
JSON fetching."""

from __future__ import annotations

import os
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import urllib3.exceptions
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


class CertificateVerificationError(InsecureTransportError):
    """The server's TLS certificate did not verify: sending the token would trust an unproven
    host. Permanent, so never retried. (Belongs in errors.py; kept here for now.)"""


class HostRateLimiter:
    """Process-wide polite pacing: at most `requests_per_second` request starts per host,
    shared by every thread and session, by spacing starts at least 1/rate apart.

    A minimum interval rather than a token bucket: no bursts, so a sync that fans out over
    many schools never hits the vendor harder than the configured rate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}  # host:port -> earliest monotonic start time

    def wait(self, url: str, requests_per_second: float) -> float:
        """Block until this request may start; returns the seconds slept. 0 means unlimited."""
        if requests_per_second <= 0:
            return 0.0
        key = host_and_port(url)
        with self._lock:  # reserve a slot under the lock, sleep outside it
            now = time.monotonic()
            start = max(now, self._next_start.get(key, now))
            self._next_start[key] = start + 1.0 / requests_per_second
        delay = start - now
        if delay > 0:
            time.sleep(delay)
        return delay


HOST_RATE_LIMITER = HostRateLimiter()


class _Retry(Retry):
    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        # urllib3 counts a certificate failure as a retryable "other" error; retrying cannot fix
        # it and only delays a clear message by the whole backoff schedule.
        if error is not None and is_certificate_failure(error):
            raise urllib3.exceptions.MaxRetryError(_pool, url, error) from error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def is_certificate_failure(exc: BaseException | None) -> bool:
    """Whether an ssl.SSLCertVerificationError is anywhere in the chain that requests and
    urllib3 wrap around it (as causes, `reason` attributes or constructor arguments)."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


def build_session(total_retries: int = 5, backoff_factor: float = 0.5) -> requests.Session:
    """A session that retries idempotent GETs on 429/5xx and connection failures, honouring
    Retry-After. TLS verification stays on: `trust_env` stays True, so requests reads
    REQUESTS_CA_BUNDLE (how a private CA, e.g. the simulator's, is trusted)."""
    retry = _Retry(
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
        raise InsecureTransportError(
            f"refusing scheme {parts.scheme!r} for {path}: only https is allowed", path=path
        )
    if (parts.hostname or "") not in LOOPBACK_HOSTS:
        raise InsecureTransportError(
            f"refusing plain http to non-loopback host {parts.hostname} for {path}", path=path
        )
    if os.environ.get(LOOPBACK_ENV) != "1":
        raise InsecureTransportError(
            f"refusing plain http to {parts.hostname} for {path}: set {LOOPBACK_ENV}=1 to allow the local simulator",
            path=path,
        )


def same_origin(url: str, base: str) -> bool:
    """Scheme, host and effective port all match."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, (a.hostname or "").lower(), _port(a)) == (
        b.scheme,
        (b.hostname or "").lower(),
        _port(b),
    )


def host_and_port(url: str) -> str:
    """`host:port` without any userinfo, which could hold a credential."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{_port(parts)}"


def _port(parts) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def get_json(
    session: requests.Session,
    url: str,
    params: dict[str, Any] | None = None,
    *,
    timeout: float = 30.0,
    attempts: int = 3,
    backoff: float = 0.5,
    school_id: str | None = None,
    requests_per_second: float = 0.0,
) -> dict:
    """GET a JSON object. Retries (bounded, with backoff) truncated or non-JSON bodies, which
    urllib3's Retry cannot see; raises rather than ever returning an empty page silently.
    Each attempt waits its turn on HOST_RATE_LIMITER (`requests_per_second`, 0 = unlimited)."""
    path = urlsplit(url).path
    for attempt in range(1, attempts + 1):
        try:
            HOST_RATE_LIMITER.wait(url, requests_per_second)
            response = session.get(url, params=params, timeout=timeout)
            _raise_for_status(response.status_code, path, school_id)
            payload = orjson.loads(response.content)  # about twice as fast as the stdlib parser
        except (*BODY_ERRORS, orjson.JSONDecodeError) as exc:
            if attempt == attempts:
                raise InvalidResponseError(
                    f"truncated or non-JSON body, {describe(200, path, school_id)}, "
                    f"after {attempts} attempts",
                    status=200,
                    path=path,
                    school_id=school_id,
                ) from exc
            time.sleep(min(backoff * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS))
            continue
        except requests.exceptions.SSLError as exc:
            if not is_certificate_failure(exc):
                raise ConnectorUnavailableError(
                    f"TLS handshake failed for {describe(None, path, school_id)}",
                    path=path,
                    school_id=school_id,
                ) from exc
            # Without the chain: a run's failure reason is its innermost cause, and urllib3's
            # is a paragraph of pool internals where this one line says what to do.
            raise CertificateVerificationError(
                f"TLS certificate verification failed for {host_and_port(url)} ({describe(None, path, school_id)}): "
                f"if this is a private CA, set REQUESTS_CA_BUNDLE to its PEM file",
                path=path,
                school_id=school_id,
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ConnectorUnavailableError(
                f"request failed after retries ({type(exc).__name__}) for {describe(None, path, school_id)}",
                path=path,
                school_id=school_id,
            ) from exc
        if not isinstance(payload, dict):
            raise InvalidResponseError(
                f"expected a JSON object, {describe(200, path, school_id)}",
                status=200,
                path=path,
                school_id=school_id,
            )
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
