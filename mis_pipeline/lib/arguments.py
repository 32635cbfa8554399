"""Command-line arguments read strictly and refused in one line (exit code 2): shared by the
project CLI and the simulator's own entry point. Pure argparse; no project state."""

from __future__ import annotations

import argparse
import errno
import socket

USAGE = 2  # the exit code of a request to change (bad usage)


class Help(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default  # `is`: a default of 0 or 0.0 is worth showing, though it equals False
        shown = not (
            default is None
            or default is False
            or default == []
            or default == argparse.SUPPRESS
            or action.required
        )
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
