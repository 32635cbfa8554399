"""How the command line reads its arguments and says what went wrong: in one line, exit code 2 for
a request to change (bad usage), 1 for an operation that failed, never a traceback.

The environment failures an operator meets first (warehouse URL wrong or server down, port in use,
no master key in production) are turned into one line that names the setting to fix.
"""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import urlsplit

FAILED = 1  # the exit code of an operation that failed


def environment_failure(error: BaseException) -> str | None:
    """One line for a failure of the environment rather than of the command, or None.

    The database URL is shown without its password.
    """
    from sqlalchemy import exc

    from mis_pipeline.config import MissingMasterKeyError

    if isinstance(error, MissingMasterKeyError):
        return str(error)
    if isinstance(error, (exc.ArgumentError, exc.NoSuchModuleError)) and _about_the_url(error):
        return (
            f"MIS_DATABASE_URL is not a usable database URL ({_first_line(error)}): fix MIS_DATABASE_URL, "
            "e.g. postgresql+psycopg://user@host:5432/dbname, or unset it for the embedded SQLite warehouse"
        )
    if isinstance(error, exc.OperationalError):
        return (
            f"cannot connect to the warehouse database {_shown_url()}: {_first_line(error.orig or error)}; "
            "check that the server is running, or fix MIS_DATABASE_URL"
        )
    return None


_CONNECTORS = (("Wonde", "WONDE_API_URL"), ("Groupcall Xporter on Demand", "XPORTER_API_URL"))
_UNREACHABLE = re.compile(
    r"Failed to establish a new connection: \[Errno -?\d+\] ([^\"')]+)|"
    r"(NameResolutionError|Name or service not known|timed out|Connection refused)"
)


def explain_connector_failure(message: str) -> str:
    """A failed run's one line, with the connector setting to fix when a connector could not be
    reached ("...: cannot connect to Wonde at http://…: Connection refused; check that it is
    running, or fix WONDE_API_URL"). Other messages pass through unchanged."""
    cause = _UNREACHABLE.search(message)
    if cause is None:
        return message
    for name, variable in _CONNECTORS:
        url = os.environ.get(variable, "")
        parsed = urlsplit(url)
        if (
            parsed.hostname
            and f"host='{parsed.hostname}'" in message
            and (parsed.port is None or f"port={parsed.port}" in message)
        ):
            head = message.split(":", 1)[0] if ":" in message else "the run failed"
            return (
                f"{head}: cannot connect to {name} at {url}: {(cause.group(1) or cause.group(2)).strip()}; "
                f"check that it is running, or fix {variable}"
            )
    return message


def _about_the_url(error: BaseException) -> bool:
    text = str(error)
    return "URL" in text or "Can't load plugin" in text or "rfc1738" in text


def _shown_url() -> str:
    from sqlalchemy.engine import make_url

    configured = os.environ.get("MIS_DATABASE_URL", "")
    if not configured:
        return "(the embedded SQLite file in MIS_HOME)"
    try:
        return f"({make_url(configured).render_as_string(hide_password=True)})"
    except Exception:  # noqa: BLE001 (a URL that does not parse is reported elsewhere)
        return "(MIS_DATABASE_URL)"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def unexpected(error: BaseException) -> str:
    """The last resort's line: the error's kind and first line (our errors carry no pupil value)."""
    return f"unexpected {type(error).__name__}: {_first_line(error)} (MIS_DEBUG=1 shows the traceback)"


def report(message: str, code: int) -> int:
    print(f"mis-pipeline: {message}", file=sys.stderr)
    return code
