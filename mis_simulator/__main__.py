"""`python -m mis_simulator`: the same simulator the CLI's `simulator serve` starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from mis_pipeline.lib.arguments import (
    OneLineParser,
    check_port_free,
    non_negative_int,
    port_or_any,
    positive_int,
    share,
)
from mis_simulator import server

# Standalone, the CA is kept beside where the simulator is started; the project CLI keeps it in MIS_HOME.
STANDALONE_TLS_DIR = "simulator-tls"


def add_serve_arguments(parser: argparse.ArgumentParser, tls_home_shown: str = STANDALONE_TLS_DIR) -> None:
    """Every `serve` option, so the project CLI can offer exactly the same flags (`tls_home_shown`: how
    the help names the default CA folder, which `serve_from_args` is given)."""
    parser.add_argument("--host", default=server.DEFAULT_HOST, help="the address to listen on")
    parser.add_argument(
        "--port",
        type=port_or_any,
        default=server.DEFAULT_PORT,
        help="the port to listen on; 0 picks a free one",
    )
    parser.add_argument(
        "--schools",
        type=positive_int,
        default=server.DEFAULT_SCHOOLS,
        help="schools in the synthetic population (Wonde and XoD alternate)",
    )
    parser.add_argument(
        "--pupils-per-school",
        type=positive_int,
        default=server.DEFAULT_PUPILS,
        help="pupils on each school's roll",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=server.DEFAULT_SEED,
        help="the population's random seed: the same seed serves the same pupils",
    )
    parser.add_argument(
        "--token", default=server.DEFAULT_TOKEN, help="the Wonde bearer token clients must send"
    )
    parser.add_argument(
        "--fault-rate",
        type=share,
        default=0.0,
        help="share of requests (0-1) given a random 429/500/503/slow/truncated response",
    )
    parser.add_argument(
        "--retry-after",
        type=non_negative_int,
        default=1,
        dest="retry_after_seconds",
        help="Retry-After seconds on injected 429/503 responses",
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a private CA; prints REQUESTS_CA_BUNDLE"
    )
    parser.add_argument(
        "--tls-dir",
        type=Path,
        default=None,
        help=f"CA and certificate folder; implies --tls (default {tls_home_shown})",
    )
    parser.add_argument(
        "--gias-out",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the GIAS extract (cp1252 CSV) here; prints GIAS_EXTRACT",
    )
    parser.add_argument(
        "--bad-records",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="N pupils per school arrive with a defect, alternately a wrong UPN check letter "
        "and no date of birth (for quarantine tests)",
    )
    parser.add_argument(
        "--inferred-fields",
        action="store_true",
        help="also serve fields connectors.md does not document on a record (XoD LastUpdated "
        "on marks and results, NCYear, FormerUPN); by default only documented shapes",
    )
    parser.add_argument(
        "--xod-secrets-out",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the XoD school secrets JSON ({estab: secret}) here; prints XPORTER_SCHOOL_SECRETS",
    )


def serve_from_args(args: argparse.Namespace, tls_home: Path = Path(STANDALONE_TLS_DIR)) -> None:
    """Serve until stopped; a port in use or a host that is not ours ends it with one line (exit 1).
    HTTPS keeps its CA in --tls-dir, else `tls_home`."""
    refused = check_port_free(args.host, args.port) if args.port else None
    if refused:
        raise SystemExit(f"simulator: {refused}")
    server.serve(
        args.host,
        args.port,
        args.schools,
        args.pupils_per_school,
        args.seed,
        args.token,
        fault_rate=args.fault_rate,
        retry_after_seconds=args.retry_after_seconds,
        tls=args.tls or args.tls_dir is not None,
        tls_dir=args.tls_dir or tls_home,
        gias_path=args.gias_out,
        xod_secrets_path=getattr(args, "xod_secrets_out", None),
        bad_records=getattr(args, "bad_records", 0),
        inferred_fields=getattr(args, "inferred_fields", False),
    )


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m mis_simulator", description="Serve simulated Wonde and XoD APIs.")
    add_serve_arguments(parser)
    serve_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
