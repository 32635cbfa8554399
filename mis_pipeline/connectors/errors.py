"""Connector errors.

Messages are one line and name only the school id, the URL path (never the query string,
which can carry filters) and the HTTP status. They never include response bodies, tokens or
pupil values, because they end up in Dagster event logs.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: anything that stops a connector call from returning trustworthy data."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        school_id: str | None = None,
    ) -> None:
        super().__init__(" ".join(message.split()))  # force one line
        self.status = status
        self.path = path
        self.school_id = school_id


class ConnectorAuthError(ConnectorError):
    """401: the application token is missing or wrong."""


class UnknownSchoolError(ConnectorError):
    """404 on a school: the id does not exist for this application."""


class NotAuthorisedError(ConnectorError):
    """403: the school or data item is not granted. Expected; callers record it, not fail."""


class InsecureTransportError(ConnectorError):
    """A request would send the token somewhere it must not go (plain HTTP, foreign host)."""


class ConnectorUnavailableError(ConnectorError):
    """Retries exhausted on 429/5xx, timeouts or dropped connections."""


class InvalidResponseError(ConnectorError):
    """The service answered, but not with the JSON shape the connector needs."""


def describe(status: int | None, path: str, school_id: str | None) -> str:
    """`HTTP 403 for school A123 at /v1.0/schools/A123/students` — the shared message core."""
    where = f"school {school_id} at {path}" if school_id else path
    return f"HTTP {status} for {where}" if status is not None else where
