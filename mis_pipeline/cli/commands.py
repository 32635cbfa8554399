"""What each `mis-pipeline` command does. Runs go through Dagster jobs on the configured instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path

from mis_pipeline.config import operator_name, simulator_tls_dir
from mis_pipeline.instance import dagster_home, get_instance
from mis_pipeline.lib.arguments import check_port_free


class CommandError(Exception):
    """A one-line reason the command could not do what was asked (exit code 1)."""


class UsageError(CommandError):
    """A one-line reason the command was asked wrongly: an argument to change (exit code 2)."""


def simulator_serve(args) -> int:
    from mis_simulator.__main__ import serve_from_args

    refused = check_port_free(args.host, args.port) if args.port else None
    if refused:
        raise CommandError(refused)
    serve_from_args(args, tls_home=simulator_tls_dir())
    return 0


def require_registered(engine, urns: list[str]) -> None:
    """Every per-school command names a registered school, or is refused as bad usage."""
    from mis_pipeline.registry.store import list_schools

    known = {school.urn for school in list_schools(engine)}
    for urn in urns:
        if urn not in known:
            raise UsageError(
                f"school {urn} is not registered (see `mis-pipeline schools list`; "
                "`mis-pipeline schools discover` registers the schools that approved us)"
            )


def sync(args) -> int:
    from mis_pipeline.cli.launch import SyncRefused, UnknownSchool, run_sync

    try:
        summary = run_sync(get_instance(), requested=args.school, max_workers=args.max_workers)
    except UnknownSchool as error:
        raise UsageError(str(error)) from None
    except SyncRefused as error:
        raise CommandError(str(error)) from None
    for line in summary.lines:
        print(line)
    if not summary.success:
        raise CommandError(summary.failure_reason)
    return 0


def schools_list(args) -> int:
    from mis_pipeline.registry.listing import render_schools, school_listing
    from mis_pipeline.warehouse.engine import get_engine

    entries = school_listing(get_engine())
    print(json.dumps({"schools": entries}, ensure_ascii=False) if args.json else render_schools(entries))
    return 0


def schools_import_gias(args) -> int:
    from mis_pipeline.cli.runs import failure_reason, run_job
    from mis_pipeline.registry.jobs import IMPORT_GIAS_JOB

    path = Path(args.file).resolve()
    if not path.is_file():
        raise UsageError(f"no such file: {args.file}")
    result = run_job(
        get_instance(), IMPORT_GIAS_JOB, {"ops": {"gias_establishments": {"config": {"path": str(path)}}}}
    )
    if not result.success:
        raise CommandError(f"GIAS import failed: {failure_reason(result)}")
    [event] = [e for e in result.get_asset_materialization_events()]
    metadata = event.event_specific_data.materialization.metadata
    print(
        f"imported {metadata['establishments'].value} establishments "
        f"({metadata['with_trust'].value} in a trust, {metadata['with_diocese'].value} with a diocese; "
        f"{metadata['skipped_rows'].value} rows skipped)"
    )
    return 0


def status(args) -> int:
    from mis_pipeline.cli.status import render_table, school_status
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
    refused = check_port_free(args.host, args.port)
    if refused:
        raise CommandError(refused)
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home})", flush=True)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    return subprocess.call(command, cwd=root, env={**os.environ, "DAGSTER_HOME": str(home)})


def _write_secret_file(path: Path, text: str) -> None:
    """Create `path` readable by its owner only (0600) from the first byte; never overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandError(f"{path} already exists; not overwriting a key") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text + "\n")


def keys_init(args) -> int:
    from mis_pipeline.config import is_production, local_master_key_path
    from mis_pipeline.lib.crypto import encode_key, generate_key

    if is_production():
        raise CommandError(
            "MIS_ENV=production: the master key comes from MIS_MASTER_KEY (your secret store), "
            "not from a local file"
        )
    path = local_master_key_path()
    if path.exists():
        print(f"a local master key already exists at {path}")
        return 0
    _write_secret_file(path, encode_key(generate_key()))
    print(
        f"generated a master key at {path} (mode 0600). Anyone with this file and the warehouse can read "
        "pupil data: keep it safe, back it up separately; production reads MIS_MASTER_KEY instead"
    )
    return 0


def keys_generate(args) -> int:
    from mis_pipeline.lib.crypto import MasterKey, encode_key, generate_key

    key = generate_key()
    if args.out:
        _write_secret_file(Path(args.out), encode_key(key))
        print(f"wrote a new master key to {args.out} (mode 0600), key id {MasterKey.from_bytes(key).key_id}")
    else:
        print(encode_key(key))
    return 0


def _keyring_and_engine():
    from mis_pipeline.config import MissingMasterKeyError, master_keyring
    from mis_pipeline.lib.crypto import KeyringError
    from mis_pipeline.warehouse.engine import get_engine

    try:
        return master_keyring(), get_engine()
    except (MissingMasterKeyError, KeyringError) as error:
        raise CommandError(str(error)) from None


def keys_rotate(args) -> int:
    from mis_pipeline.lib.crypto import KeyringError
    from mis_pipeline.warehouse.vault import rotate

    keyring, engine = _keyring_and_engine()
    try:
        result = rotate(engine, keyring, batch_size=args.batch_size, actor=operator_name())
    except KeyringError as error:
        raise CommandError(str(error)) from None
    retired = ", ".join(result.retired) or "none"
    print(
        f"re-wrapped {result.rewrapped} data keys under master key {result.current}; retired master keys: {retired}"
    )
    return 0


def keys_status(args) -> int:
    from mis_pipeline.lib.crypto import KeyringError
    from mis_pipeline.warehouse.vault import key_census, open_vault

    keyring, engine = _keyring_and_engine()
    try:
        open_vault(engine, keyring)
    except KeyringError as error:
        raise CommandError(str(error)) from None
    census = key_census(engine)
    if args.json:
        print(json.dumps({"current": keyring.current.key_id, **census}))
        return 0
    print(f"MIS_MASTER_KEY id {keyring.current.key_id}")
    for key in census["master_keys"]:
        state = "active" if key["active"] else "retired"
        print(f"  master key {key['key_id']}: {state}, wraps {key['data_keys']} data keys")
    return 0


def _date_or_none(text: str | None, option: str):
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} takes a date as YYYY-MM-DD (got {text!r})") from None


def schools_set(args) -> int:
    from mis_pipeline.audit.wording import describe_settings
    from mis_pipeline.lib.dates import london_today
    from mis_pipeline.registry.settings import SettingsChange, SettingsError, apply_settings
    from mis_pipeline.warehouse.engine import get_engine

    subscription = {}
    if args.subscription_end is not None:
        clear = args.subscription_end.lower() == "none"
        subscription["subscription_end"] = (
            None if clear else _date_or_none(args.subscription_end, "--subscription-end")
        )
    change = SettingsChange(
        withhold=args.withhold,
        allow=args.allow,
        sync_mode=args.mode,
        paused=True if args.pause else False if args.resume else None,
        agreement_accepted_on=_date_or_none(args.agreement_accepted, "--agreement-accepted"),
        agreement_version=args.agreement_version,
        final_year_group=args.final_year_group,
        agreement_withdrawn_on=_date_or_none(args.agreement_withdrawn, "--agreement-withdrawn"),
        share_off=args.no_share_with,
        share_on=args.share_with,
        **subscription,
    )
    if change.is_empty():
        raise UsageError("nothing to set: see `mis-pipeline schools set --help`")
    engine = get_engine()
    require_registered(engine, args.urn)
    try:
        moved = apply_settings(engine, args.urn, change, actor=operator_name())
    except SettingsError as error:  # every one names an argument to change
        raise UsageError(str(error)) from None
    for urn, settings in moved.items():
        print(
            f"school {urn}: {describe_settings(settings, london_today()) if settings else 'already so, nothing changed'}"
        )
    return 0


def schools_discover(args) -> int:
    from mis_pipeline.cli.runs import failure_reason, run_job
    from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB

    result = run_job(get_instance(), DISCOVER_SCHOOLS_JOB)
    if not result.success:
        raise CommandError(f"school discovery failed: {failure_reason(result)}")
    from mis_pipeline.registry.listing import render_schools, school_listing
    from mis_pipeline.warehouse.engine import get_engine

    print(render_schools(school_listing(get_engine())))
    return 0


def changes(args) -> int:
    """A school's change sets: when, applied or pending, pupils per kind and the fields that moved."""
    from collections import Counter

    from mis_pipeline.lib.dates import iso_utc
    from mis_pipeline.warehouse.change_store import read_change_sets
    from mis_pipeline.warehouse.engine import get_engine

    engine = get_engine()
    require_registered(engine, [args.urn])
    entries = []
    for change_set in read_change_sets(engine, args.urn):
        fields = Counter(f for c in change_set["changes"] for f in c["fields"])
        entries.append(
            {
                "id": change_set["id"],
                "status": change_set["status"],
                "computed_at": iso_utc(change_set["created_at"]),
                "applied_at": iso_utc(change_set["applied_at"]),
                **change_set["counts"],
                "fields_changed": dict(sorted(fields.items())),
            }
        )
    if args.json:
        print(json.dumps({"urn": args.urn, "change_sets": entries}))
        return 0
    if not entries:
        print(f"school {args.urn}: no change sets yet")
    for e in entries:
        kinds = ", ".join(f"{n} {kind}" for kind, n in e["pupils"].items() if n) or "no pupil changes"
        items = ", ".join(
            f"{d} +{c['inserted']}/~{c['updated']}/-{c['deleted']}" for d, c in e["items"].items()
        )
        fields = ", ".join(f"{f} x{n}" for f, n in e["fields_changed"].items())
        print(
            f"#{e['id']} {e['status']:<10} {e['computed_at'][:19]}  {kinds}"
            + (f"; {items}" if items else "")
            + (f"; fields: {fields}" if fields else "")
        )
    return 0


def purge(args) -> int:
    """Run the retention job (schedule, 6-month purge, 5-year purge) as of a date; print what went."""
    from mis_pipeline.cli.runs import failure_reason, run_job
    from mis_pipeline.retention.assets import PURGE_JOB

    if args.replay_after_restore:
        return _replay_after_restore(args)
    if args.as_of:
        _date_or_none(args.as_of, "--as-of")
    ops = ("retention_eligible_records", "named_data_purge", "unnamed_data_purge")
    config = {"ops": {op: {"config": {"as_of": args.as_of or ""}} for op in ops}}
    result = run_job(get_instance(), PURGE_JOB, config)
    if not result.success:
        raise CommandError(f"purge failed: {failure_reason(result)}")
    metadata = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in (event for event in result.get_asset_materialization_events())
    }
    named, unnamed = metadata["named_data_purge"], metadata["unnamed_data_purge"]
    by_rule = ", ".join(f"{n} {rule}" for rule, n in named["by_rule"].value.items()) or "none due"
    print(
        f"as of {named['as_of'].value}: un-named {named['pupils_un_named'].value} pupils ({by_rule}); "
        f"deleted {unnamed['unnamed_records'].value} un-named records and {unnamed['change_sets'].value} change sets "
        "older than 5 years"
    )
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [e.event_specific_data.check_name for e in checks if not e.event_specific_data.passed]
    if failed:
        raise CommandError(f"retention check failed: {', '.join(failed)}")
    return 0


def _replay_after_restore(args) -> int:
    """Re-apply, in a restored warehouse, every purge recorded since the backup was taken."""
    from datetime import datetime

    from mis_pipeline.config import master_keyring, operator_name
    from mis_pipeline.retention.replay import replay_after_restore
    from mis_pipeline.warehouse.audit_log import read_audit
    from mis_pipeline.warehouse.engine import get_engine
    from mis_pipeline.warehouse.vault import open_vault

    try:
        since = datetime.fromisoformat(args.replay_after_restore)
    except ValueError:
        raise CommandError(
            f"--replay-after-restore takes an ISO date or time (got {args.replay_after_restore!r})"
        ) from None
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    engine = get_engine()
    if args.audit_file:
        try:
            entries = json.loads(Path(args.audit_file).read_text(encoding="utf-8"))["entries"]
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(
                f"--audit-file {args.audit_file}: not an audit export ({type(error).__name__})"
            ) from None
    else:
        entries = read_audit(engine, action="purge")
    report = replay_after_restore(
        engine, open_vault(engine, master_keyring()), entries, since, actor=operator_name()
    )
    by_rule = ", ".join(f"{n} {rule}" for rule, n in report.by_rule.items()) or "none still held"
    print(
        f"purges since {since.isoformat()}: {report.tombstones} data keys destroyed; "
        f"purged again {report.pupils} pupils the restore brought back ({by_rule})"
    )
    return 0


def retention(args) -> int:
    """The early warning: named data falling due within N days, per school and rule."""
    from mis_pipeline.lib.dates import london_today
    from mis_pipeline.retention.store import due_within, school_facts
    from mis_pipeline.warehouse.engine import get_engine

    engine = get_engine()
    today = london_today()
    entries = due_within(engine, today, args.within)
    with engine.connect() as conn:
        unknown = sorted(urn for urn, facts in school_facts(conn, today).items() if facts.final_year is None)
    if args.json:
        print(
            json.dumps(
                {
                    "as_of": today.isoformat(),
                    "within_days": args.within,
                    "due": entries,
                    "schools_without_final_year_group": unknown,
                }
            )
        )
        return 0
    print(f"named data due by {date_after(today, args.within)} (within {args.within} days):")
    for e in entries:
        late = " OVERDUE" if e["overdue"] else ""
        print(f"  {e['urn']}: {e['pupils']} pupils, rule {e['rule']}, first due {e['first_due']}{late}")
    if not entries:
        print("  nothing")
    if unknown:
        print(
            f"schools whose final year group is unknown (the key-stage rule cannot fire; set "
            f"`schools set URN --final-year-group N`): {', '.join(unknown)}"
        )
    return 0


def date_after(day, days: int):
    from datetime import timedelta

    return day + timedelta(days=days)


def audit(args) -> int:
    """The audit log, whole or for one school, as JSON, CSV or a PDF for the school's DPO."""
    from datetime import datetime

    from mis_pipeline.audit.render import (
        as_csv,
        as_json,
        as_pdf,
        events,
        load_names,
        school_choices,
        school_links,
    )
    from mis_pipeline.registry.store import list_schools
    from mis_pipeline.warehouse.audit_log import read_audit
    from mis_pipeline.warehouse.engine import get_engine

    if args.format == "pdf" and not args.out:
        raise UsageError("--format pdf needs --out FILE")
    engine = get_engine()
    if args.urn:
        require_registered(engine, [args.urn])
    entries = read_audit(engine, school_urn=args.urn)
    names = load_names(engine, entries)
    rows = events(entries, names, args.urn)
    produced = datetime.now(UTC)
    if args.urn:
        title = f"Data processing record: {names.school(args.urn)} (URN {args.urn})"
        [school] = [s for s in list_schools(engine) if s.urn == args.urn]
        facts = [
            ("School", f"{names.school(args.urn)}, URN {args.urn}"),
            *school_links(engine, args.urn),
            *school_choices(school),
        ]
    else:
        title, facts = "Data processing record: all schools", [("Schools", f"{len(names.schools)} known")]
    if args.format == "pdf":
        Path(args.out).write_bytes(as_pdf(rows, title, facts, produced, per_school=bool(args.urn)))
        print(f"wrote {args.out} ({len(rows)} entries)")
        return 0
    about = {
        "title": title,
        "school_urn": args.urn,
        "school_name": names.school(args.urn),
        "produced_at": produced.isoformat(),
        "entries": len(rows),
    }
    text = as_json(rows, about) if args.format == "json" else as_csv(rows)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({len(rows)} entries)")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


def share(args) -> int:
    """Write partners' shares: every partner the registry implies, or those named."""
    import sqlalchemy as sa

    from mis_pipeline.cli.runs import failure_reason, run_job
    from mis_pipeline.registry.partitions import PARTNERS, refresh_partner_partitions
    from mis_pipeline.registry.partners import Partner
    from mis_pipeline.registry.run_tags import RANGE_END, RANGE_START
    from mis_pipeline.shares.assets import SHARE_JOB
    from mis_pipeline.sync.planning import batch_ranges
    from mis_pipeline.warehouse.engine import get_engine
    from mis_pipeline.warehouse.schema import share_log

    for key in args.partner:
        try:
            Partner.parse(key)
        except ValueError as error:
            raise UsageError(str(error)) from None
    instance, engine = get_instance(), get_engine()
    known = refresh_partner_partitions(instance, engine)
    unknown = [key for key in args.partner if key not in known]
    if unknown:
        raise UsageError(f"no registered school has partner {unknown[0]} (with sharing on)")
    targets = set(args.partner or known)
    ordered = instance.get_dynamic_partitions(PARTNERS.name)
    config = {"ops": {"partner_shares": {"config": {"out_dir": args.out or ""}}}}
    for start, end in batch_ranges(ordered, targets, max(len(ordered), 1), passable=()):
        result = run_job(instance, SHARE_JOB, config, tags={RANGE_START: start, RANGE_END: end})
        if not result.success:
            raise CommandError(f"share run {result.run_id} failed: {failure_reason(result)}")
        with engine.connect() as conn:
            for row in conn.execute(
                sa.select(share_log).where(share_log.c.run_id == result.run_id).order_by(share_log.c.partner)
            ):
                counts = json.loads(row.counts)
                print(
                    f"{row.partner}: {len(json.loads(row.schools))} schools, {counts['pupils']} pupils, "
                    + ", ".join(f"{d} {n}" for d, n in counts.items() if d != "pupils")
                )
    return 0
