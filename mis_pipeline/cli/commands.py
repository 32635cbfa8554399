"""What each `mis-pipeline` command does. Runs go through Dagster jobs on the configured instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mis_pipeline.instance import dagster_home, get_instance


class CommandError(Exception):
    """A one-line reason the command could not do what was asked."""


def simulator_serve(args) -> int:
    from mis_pipeline.simulator.__main__ import serve_from_args

    serve_from_args(args)
    return 0


def sync(args) -> int:
    from mis_pipeline.sync.launch import SyncRefused, run_sync

    try:
        summary = run_sync(get_instance(), requested=args.school, max_workers=args.max_workers)
    except SyncRefused as error:
        raise CommandError(str(error)) from None
    for line in summary.lines:
        print(line)
    if not summary.success:
        raise CommandError(summary.failure_reason)
    return 0


def schools_list(args) -> int:
    from mis_pipeline.reports.schools import render_schools, school_listing
    from mis_pipeline.warehouse.engine import get_engine

    entries = school_listing(get_engine())
    print(json.dumps({"schools": entries}, ensure_ascii=False) if args.json else render_schools(entries))
    return 0


def schools_import_gias(args) -> int:
    from mis_pipeline.runs import failure_reason, run_job
    from mis_pipeline.sync.jobs import IMPORT_GIAS_JOB

    path = Path(args.file).resolve()
    if not path.is_file():
        raise CommandError(f"no such file: {args.file}")
    result = run_job(get_instance(), IMPORT_GIAS_JOB, {"ops": {"gias_establishments": {"config": {"path": str(path)}}}})
    if not result.success:
        raise CommandError(f"GIAS import failed: {failure_reason(result)}")
    [event] = [e for e in result.get_asset_materialization_events()]
    metadata = event.event_specific_data.materialization.metadata
    print(f"imported {metadata['establishments'].value} establishments "
          f"({metadata['with_trust'].value} in a trust, {metadata['with_diocese'].value} with a diocese; "
          f"{metadata['skipped_rows'].value} rows skipped)")
    return 0


def status(args) -> int:
    from mis_pipeline.reports.status import render_table, school_status
    from mis_pipeline.warehouse.engine import get_engine

    entries = school_status(get_engine())
    print(json.dumps({"schools": entries}, ensure_ascii=False) if args.json else render_table(entries))
    return 0


def ui(args) -> int:
    home = dagster_home()
    root = Path(__file__).resolve().parents[2]
    workspace = root / "workspace.yaml"
    if not workspace.exists():
        raise CommandError(f"no workspace.yaml at {root}: run the UI from a checkout of the repository")
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home})", flush=True)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)]
    return subprocess.call(command, cwd=root, env={**os.environ, "DAGSTER_HOME": str(home)})
