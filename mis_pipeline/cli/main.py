"""`mis-pipeline`: the operator's command line. Every run it starts is recorded on the instance."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from mis_pipeline.cli import commands
from mis_pipeline.cli.arguments import (
    FAILED,
    environment_failure,
    explain_connector_failure,
    report,
    unexpected,
)
from mis_pipeline.cli.sar_command import add_sar_parser
from mis_pipeline.config import OPERATOR_ENV, refuse_production_without_master_key
from mis_pipeline.lib.arguments import USAGE, OneLineParser, non_negative_int, port, positive_int
from mis_pipeline.registry.scopes import WITHHOLDABLE
from mis_simulator.__main__ import add_serve_arguments


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="mis-pipeline", description=__doc__)
    parser.add_argument(
        "--as",
        dest="operator",
        metavar="NAME",
        help="who is acting, recorded in the audit log and on runs (sets MIS_OPERATOR; "
        "default: MIS_OPERATOR, else your login name)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    simulator = sub.add_parser("simulator", help="a local Wonde simulator").add_subparsers(
        dest="action", required=True
    )
    serve = simulator.add_parser("serve", help="serve a seeded synthetic population over HTTP")
    add_serve_arguments(serve, tls_home_shown="$MIS_HOME/simulator-tls/")
    serve.set_defaults(handler=commands.simulator_serve)

    sync = sub.add_parser("sync", help="discover schools, then sync them through the Dagster job")
    sync.add_argument(
        "--school",
        action="append",
        default=[],
        metavar="URN",
        help="sync only this school (repeatable); default: every automatic, unpaused school",
    )
    sync.add_argument("--max-workers", type=positive_int, default=4, help="schools synced at once in a run")
    sync.set_defaults(handler=commands.sync)

    schools = sub.add_parser("schools", help="the school registry: list it, import GIAS reference data")
    schools_sub = schools.add_subparsers(dest="action")
    schools.set_defaults(handler=commands.schools_list, json=False)
    listing = schools_sub.add_parser("list", help="registered schools with their GIAS links")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.set_defaults(handler=commands.schools_list)
    gias = schools_sub.add_parser(
        "import-gias", help="import a GIAS establishment extract (edubasealldata*.csv)"
    )
    gias.add_argument("file", help="the CSV file, Windows-1252 encoded as GIAS publishes it")
    gias.set_defaults(handler=commands.schools_import_gias)

    discover = schools_sub.add_parser(
        "discover", help="ask the connectors which schools approved us; register them"
    )
    discover.set_defaults(handler=commands.schools_discover)
    school_set = schools_sub.add_parser("set", help="change schools' own settings (audited)")
    school_set.add_argument("urn", nargs="+", help="one or more school URNs; each gets the same change")
    items = ", ".join(WITHHOLDABLE)
    school_set.add_argument(
        "--withhold",
        action="append",
        default=[],
        metavar="ITEM",
        help=f"stop collecting this item ({items}) and remove what is held at the next sync (repeatable)",
    )
    school_set.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ITEM",
        help="collect a withheld item again, from a full read (repeatable)",
    )
    school_set.add_argument(
        "--mode",
        choices=("automatic", "manual"),
        help="automatic: changes land at each sync; manual: they wait as a pending change set "
        "until applied with `sync --school URN`",
    )
    pause = school_set.add_mutually_exclusive_group()
    pause.add_argument("--pause", action="store_true", help="stop taking data: never contacted until resumed")
    pause.add_argument("--resume", action="store_true", help="take data again, from the stored cursors")
    school_set.add_argument(
        "--agreement-accepted",
        metavar="DATE",
        help="the school accepted the data sharing agreement (and its retention periods) on DATE",
    )
    school_set.add_argument(
        "--agreement-version", metavar="V", help="which version of the agreement it accepted"
    )
    school_set.add_argument(
        "--agreement-withdrawn",
        metavar="DATE",
        help="the school withdrew from the agreement on DATE: never contacted again; its data "
        "goes within 6 months",
    )
    school_set.add_argument(
        "--no-share-with",
        action="append",
        default=[],
        metavar="KIND",
        help="stop sharing with this partner kind: la, trust or diocese (repeatable)",
    )
    school_set.add_argument(
        "--share-with",
        action="append",
        default=[],
        metavar="KIND",
        help="share with this partner kind again (the default for all three)",
    )
    school_set.add_argument(
        "--final-year-group",
        type=int,
        metavar="N",
        help="the school's last NC year (e.g. 6, 11, 13), when GIAS's statutory ages do not give it",
    )
    school_set.add_argument(
        "--subscription-end",
        metavar="DATE",
        help="the subscription ends on DATE (none: clear it); after it the school is not synced",
    )
    school_set.set_defaults(handler=commands.schools_set)

    keys = sub.add_parser("keys", help="the master key: create, rotate, inspect").add_subparsers(
        dest="action", required=True
    )
    init = keys.add_parser(
        "init", help="create a local master key in MIS_HOME (mode 0600); not for production"
    )
    init.set_defaults(handler=commands.keys_init)
    generate = keys.add_parser("generate", help="print a new master key (or write it to a 0600 file)")
    generate.add_argument("--out", help="write the key to this new file instead of printing it")
    generate.set_defaults(handler=commands.keys_generate)
    rotate = keys.add_parser(
        "rotate",
        help="re-wrap every data key under MIS_MASTER_KEY (old keys listed in MIS_PREVIOUS_MASTER_KEYS)",
    )
    rotate.add_argument(
        "--batch-size", type=positive_int, default=1000, help="data keys re-wrapped per transaction"
    )
    rotate.set_defaults(handler=commands.keys_rotate)
    key_status = keys.add_parser("status", help="master keys in use and how many data keys each wraps")
    key_status.add_argument("--json", action="store_true", help="one JSON document on stdout")
    key_status.set_defaults(handler=commands.keys_status)

    change_sets = sub.add_parser(
        "changes", help="a school's change sets: applied or pending, counts, fields changed"
    )
    change_sets.add_argument("urn", help="the school's URN")
    change_sets.add_argument("--json", action="store_true", help="one JSON document on stdout")
    change_sets.set_defaults(handler=commands.changes)

    purge = sub.add_parser(
        "purge",
        help="the retention purges: named data 6 months after its trigger, un-named "
        "records after 5 years (audited)",
    )
    purge.add_argument(
        "--as-of",
        metavar="DATE",
        help="purge what is due by DATE (default today, England); production refuses a future date",
    )
    purge.add_argument(
        "--replay-after-restore",
        metavar="SINCE",
        help="after restoring a backup taken at SINCE (ISO date or time, UTC): purge again every pupil "
        "a purge removed since then, from the audit log's records of the keys it destroyed",
    )
    purge.add_argument(
        "--audit-file",
        metavar="FILE",
        help="with --replay-after-restore: the audit log exported before the restore "
        "(`audit --format json`); default: the warehouse's own",
    )
    purge.set_defaults(handler=commands.purge)

    retention = sub.add_parser(
        "retention", help="early warning: named data falling due soon, per school and rule"
    )
    retention.add_argument(
        "--within", type=non_negative_int, default=30, metavar="DAYS", help="how many days ahead to look"
    )
    retention.add_argument("--json", action="store_true", help="one JSON document on stdout")
    retention.set_defaults(handler=commands.retention)

    audit = sub.add_parser(
        "audit", help="the audit trail: received, shared, purged, settings, keys (no pupil named)"
    )
    audit.add_argument("urn", nargs="?", help="one school (default: every entry)")
    audit.add_argument(
        "--format",
        choices=("json", "csv", "pdf"),
        default="json",
        help="json or csv for auditors' tools (fields in the README), pdf for the school's DPO",
    )
    audit.add_argument("--out", metavar="FILE", help="write to FILE (required for pdf)")
    audit.set_defaults(handler=commands.audit)

    share = sub.add_parser(
        "share", help="write partners' shares: each school's data for its own LA, trust and diocese"
    )
    share.add_argument(
        "--partner",
        action="append",
        default=[],
        metavar="KEY",
        help="la-<code>, trust-<UID> or diocese-<code> (repeatable); default: every partner",
    )
    share.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the shares, one sub-folder per partner (default MIS_HOME/shares)",
    )
    share.set_defaults(handler=commands.share)

    add_sar_parser(sub)

    status = sub.add_parser("status", help="per school: counts held, quarantine, last sync, cursor")
    status.add_argument("--json", action="store_true", help="one JSON document on stdout")
    status.set_defaults(handler=commands.status)

    ui = sub.add_parser("ui", help="serve the Dagster UI over the same instance")
    ui.add_argument("--host", default="127.0.0.1", help="the address the UI listens on")
    ui.add_argument("--port", type=port, default=3000, help="the port the UI listens on")
    ui.set_defaults(handler=commands.ui)
    return parser


def console() -> int:
    """The `mis-pipeline` console script. Only a process of its own resets SIGPIPE (so that
    `mis-pipeline status | head` ends quietly): `main()` called inside another program, such as a
    test run, must leave that program's handling alone, or a peer closing a socket would kill it."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return main()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.operator is not None:
        if not args.operator.strip() or len(args.operator.strip()) > OPERATOR_MAX:
            return report(f"--as takes a name of 1 to {OPERATOR_MAX} characters", USAGE)
        os.environ[OPERATOR_ENV] = args.operator.strip()
    try:
        if (args.command, getattr(args, "action", None)) not in WITHOUT_THE_VAULT:
            refuse_production_without_master_key()
        return args.handler(args)
    except commands.UsageError as error:
        return report(str(error), USAGE)
    except commands.CommandError as error:
        return report(explain_connector_failure(str(error)), FAILED)
    except Exception as error:  # noqa: BLE001 (the last resort: one line, never a traceback)
        known = environment_failure(error)
        if known is None and os.environ.get("MIS_DEBUG") == "1":
            raise
        return report(known or unexpected(error), FAILED)


OPERATOR_MAX = 64  # the audit log's actor column holds 64 characters

# Commands that neither open the vault nor touch pupil data: they run without a master key.
WITHOUT_THE_VAULT = {("simulator", "serve"), ("keys", "generate"), ("keys", "init")}


if __name__ == "__main__":
    sys.exit(console())
