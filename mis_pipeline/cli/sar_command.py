"""`mis-pipeline sar URN --upn UPN --format json|csv|pdf --out PATH`: a subject access report.

The report holds the pupil's data, so it goes to a new file readable by its owner only, never to
the terminal; the terminal gets one line of counts. `--upn -` reads the UPN from standard input,
keeping it out of the shell history and the process list.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mis_pipeline.cli.commands import CommandError, UsageError, require_registered
from mis_pipeline.config import operator_name


def add_sar_parser(subparsers) -> None:
    sar = subparsers.add_parser(
        "sar",
        help="a subject access report: everything held about one pupil (audited)",
        description="Everything held about one pupil of a school: the record, additional details, attendance, "
        "assessments, groups, the history of changes, records held back by checks, and which "
        "partners received the data and when. A UPN not held gives a 'nothing held' report. "
        "Each report is audited (format, found, counts; never the UPN).",
    )
    sar.add_argument("urn", help="the school's URN")
    sar.add_argument(
        "--upn",
        required=True,
        metavar="UPN",
        help="the pupil's UPN (a former UPN also finds the pupil); '-' reads it from standard input",
    )
    sar.add_argument(
        "--format",
        choices=("json", "csv", "pdf"),
        default="json",
        help="json: one document; csv: a zip of one CSV per section; pdf: a report a parent can read",
    )
    sar.add_argument("--out", required=True, metavar="PATH", help="the new file to write (never overwritten)")
    sar.set_defaults(handler=sar_report)


def sar_report(args) -> int:
    from mis_pipeline.config import MissingMasterKeyError, master_keyring
    from mis_pipeline.lib.crypto import KeyringError
    from mis_pipeline.sar.gather import SarError, SarRequestError, check_request, describe, produce_report
    from mis_pipeline.warehouse.engine import get_engine
    from mis_pipeline.warehouse.vault import open_vault

    upn = sys.stdin.readline() if args.upn == "-" else args.upn
    out = Path(args.out)
    try:
        check_request(args.urn, upn, args.format, out)
    except SarRequestError as error:
        raise UsageError(str(error)) from None
    engine = get_engine()
    require_registered(engine, [args.urn])
    try:
        vault = open_vault(engine, master_keyring())
        produced = produce_report(engine, vault, args.urn, upn, args.format, out, actor=operator_name())
    except (SarError, MissingMasterKeyError, KeyringError) as error:
        raise CommandError(str(error)) from None
    print(describe(produced, args.out))
    return 0
