"""How the command line reads its arguments and says what went wrong: in one line, exit code 2 for
a request to change (bad usage), 1 for an operation that failed, never a traceback.

The environment failures an operator meets first (warehouse URL wrong or server down, port in use,
no master key in production) are turned into one line that names the setting to fix.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import socket
import sys
from urllib.parse import urlsplit

USAGE, FAILED = 2, 1


class Help(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default  # `is`: a default of 0 or 0.0 is worth showing, though it equals False
        shown = not (default is None or default is False or default == [] or default == argparse.SUPPRESS
                     or action.required)
        if shown and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (the command, the cause, where to look)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _integer(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} is not {what}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1, "a positive number (1 or more)")


def non_negative_int(text: str) -> int:
    return _integer(text, 0, "0 or more")


def port(text: str) -> int:
    value = _integer(text, 1, "a port number (1 to 65535)")
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1 to 65535)")
    return value


def port_or_any(text: str) -> int:
    """A port, or 0 for any free one (the simulator's tests and benchmarks)."""
    return 0 if text.strip() == "0" else port(text)


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def check_port_free(host: str, number: int) -> str | None:
    """Why `host:number` cannot be listened on (in use, no such address), or None when it can."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, number))
        except OSError as error:
            return bind_failure(error, host, number)
    return None


def bind_failure(error: OSError, host: str, number: int) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {number} on {host} is already in use: stop what listens there, or choose another with --port"
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine (fix --host)"
    return f"cannot listen on {host}:{number}: {error.strerror or error} (fix --host or --port)"


def environment_failure(error: BaseException) -> str | None:
    """One line for a failure of the environment rather than of the command, or None.

    The database URL is shown without its password.
    """
    from sqlalchemy import exc

    from mis_pipeline.config import MissingMasterKeyError

    if isinstance(error, MissingMasterKeyError):
        return str(error)
    if isinstance(error, (exc.ArgumentError, exc.NoSuchModuleError)) and _about_the_url(error):
        return (f"MIS_DATABASE_URL is not a usable database URL ({_first_line(error)}): fix MIS_DATABASE_URL, "
                "e.g. postgresql+psycopg://user@host:5432/dbname, or unset it for the embedded SQLite warehouse")
    if isinstance(error, exc.OperationalError):
        return (f"cannot connect to the warehouse database {_shown_url()}: {_first_line(error.orig or error)}; "
                "check that the server is running, or fix MIS_DATABASE_URL")
    return None


_CONNECTORS = (("Wonde", "WONDE_API_URL"), ("Groupcall Xporter on Demand", "XPORTER_API_URL"))
_UNREACHABLE = re.compile(r"Failed to establish a new connection: \[Errno -?\d+\] ([^\"')]+)|"
                          r"(NameResolutionError|Name or service not known|timed out|Connection refused)")


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
        if parsed.hostname and f"host='{parsed.hostname}'" in message and (
                parsed.port is None or f"port={parsed.port}" in message):
            head = message.split(":", 1)[0] if ":" in message else "the run failed"
            return (f"{head}: cannot connect to {name} at {url}: {(cause.group(1) or cause.group(2)).strip()}; "
                    f"check that it is running, or fix {variable}")
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
