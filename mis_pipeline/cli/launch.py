"""Launch discovery and sync runs on an instance, the way the CLI and tests do.

Runs execute in this process (no daemon needed) but are recorded on the instance, so they appear
in the Dagster UI with their events, metadata and checks. Many schools share one run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import dagster as dg
from sqlalchemy import select

from mis_pipeline.cli.celery_runs import execute_on_celery
from mis_pipeline.cli.runs import QUIET_CONSOLE, failure_reason, own_tags, reap_dead_runs, run_job
from mis_pipeline.config import MissingMasterKeyError, master_keyring
from mis_pipeline.instance import hold_storage_connections
from mis_pipeline.lib.crypto import KeyringError
from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.run_tags import range_tags, who_and_why
from mis_pipeline.registry.store import list_schools
from mis_pipeline.sync.assets import SYNC_OP
from mis_pipeline.sync.checks import CHECK_JOB
from mis_pipeline.sync.distributed import sync_executor_name
from mis_pipeline.sync.jobs import SYNC_SCHOOLS_JOB
from mis_pipeline.sync.planning import batch_ranges, discovery_due
from mis_pipeline.sync.schedules import sync_batch_size
from mis_pipeline.warehouse.changes import CHANGE_KINDS
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.schema import change_sets, sync_log
from mis_pipeline.warehouse.vault import open_vault

# Celery runs this process orchestrates at once: enough to keep a few workers busy; more workers
# are fed by more runs in flight (the daemon's run queue in production).
CELERY_RUNS_AT_ONCE = 8
DISCOVERY_MAX_AGE_ENV, DEFAULT_DISCOVERY_MAX_AGE_MINUTES = "MIS_DISCOVERY_MAX_AGE_MINUTES", 60.0
REGISTRY_ASSET = "school_registry"


class SyncRefused(Exception):
    """The request cannot be run as asked (unknown or unsyncable school)."""


class UnknownSchool(SyncRefused):
    """A school asked for is not registered, even after discovery: the request must change."""


@dataclass
class SyncSummary:
    success: bool = True
    lines: list[str] = field(default_factory=list)
    failure_reason: str = ""
    run_ids: list[str] = field(default_factory=list)  # discovery, then each sync run
    check_run_ids: list[str] = field(default_factory=list)  # the contract checks after each sync run


def run_sync(
    instance: dg.DagsterInstance,
    requested: list[str] | None = None,
    max_workers: int = 4,
    max_schools_per_run: int | None = None,
    executor: str | None = None,
) -> SyncSummary:
    """Discover schools (unless the registry is fresh: MIS_DISCOVERY_MAX_AGE_MINUTES), then sync the
    requested ones: their changes land, manual or not (a person
    asked). With none requested: every school that may be contacted, automatic schools' changes
    landing and manual schools' held as pending change sets.

    `executor` (default MIS_SYNC_EXECUTOR, else in_process): "celery" runs each batch's step on a
    Celery worker, several runs at once (the instance must be the shared PostgreSQL one)."""
    executor = executor or sync_executor_name()
    _check_master_key()
    if requested:
        _refuse_blocked(requested)  # before discovery: a paused school receives no request at all
    hold_storage_connections(instance)
    summary = SyncSummary()
    if _discovery_due(instance, requested):
        discovery = run_job(instance, DISCOVER_SCHOOLS_JOB, trigger="cli:sync")
        summary.run_ids.append(discovery.run_id)
        if not discovery.success:
            return SyncSummary(
                False, [], f"school discovery failed: {failure_reason(discovery)}", summary.run_ids
            )

    targets = _targets(requested)
    ordered = instance.get_dynamic_partitions(SCHOOLS.name)
    config = {
        "ops": {
            SYNC_OP: {
                "config": {
                    "max_workers": max_workers,
                    "manual_schools": "apply" if requested else "preview",
                    "skip_blocked": not requested,
                }
            }
        }
    }
    ranges = batch_ranges(ordered, targets, max_schools_per_run or sync_batch_size(), passable=())
    tags_per_run = [range_tags(start, end) for start, end in ranges]
    for tags, result in zip(tags_per_run, _sync_runs(instance, executor, config, tags_per_run), strict=True):
        summary.run_ids.append(result.run_id)
        # The contract checks of the same schools, from the warehouse only (never a connector).
        summary.check_run_ids.append(run_job(instance, CHECK_JOB, tags=tags, trigger="cli:sync").run_id)
        summary.lines.extend(_school_lines(result.run_id))
        if not result.success:
            summary.success = False
            summary.failure_reason = f"sync run {result.run_id} failed: {failure_reason(result)}"
    if not targets:
        summary.lines.append("no schools to sync")
    return summary


def discovery_max_age_seconds() -> float:
    """MIS_DISCOVERY_MAX_AGE_MINUTES (default 60; 0: discover before every sync)."""
    text = os.environ.get(DISCOVERY_MAX_AGE_ENV, "").strip()
    try:
        minutes = float(text) if text else DEFAULT_DISCOVERY_MAX_AGE_MINUTES
    except ValueError:
        raise SyncRefused(f"{DISCOVERY_MAX_AGE_ENV} must be a number of minutes, not {text!r}") from None
    return max(minutes, 0.0) * 60


def _discovery_due(instance: dg.DagsterInstance, requested: list[str] | None) -> bool:
    """Discovery reads every school's grants (a request per school): skipped when the registry was
    refreshed recently (by a sync, `schools discover` or the hourly discovery sensor), unless a
    school asked for by name is not registered yet."""
    latest = instance.get_latest_materialization_event(dg.AssetKey(REGISTRY_ASSET))
    registered = {school.urn for school in list_schools(get_engine())} if requested else set()
    return discovery_due(
        latest.timestamp if latest else None,
        time.time(),
        discovery_max_age_seconds(),
        all(urn in registered for urn in requested or []),
    )


def _sync_runs(instance: dg.DagsterInstance, executor: str, config: dict, range_tags: list[dict[str, str]]):
    """The sync runs' results, one per range (in order): in this process one after another, or on
    Celery workers, CELERY_RUNS_AT_ONCE in flight."""
    if executor == "celery":
        reap_dead_runs(instance)
        return execute_on_celery(
            instance,
            {**QUIET_CONSOLE, **config},
            [{**t, **who_and_why("cli:sync"), **own_tags()} for t in range_tags],
            runs_at_once=CELERY_RUNS_AT_ONCE,
        )
    return (run_job(instance, SYNC_SCHOOLS_JOB, config, tags=t, trigger="cli:sync") for t in range_tags)


def _check_master_key() -> None:
    """Prove the master key before any run, so a wrong key changes nothing at all (not even the
    registry that discovery refreshes)."""
    try:
        open_vault(get_engine(), master_keyring())
    except (MissingMasterKeyError, KeyringError) as error:
        raise SyncRefused(str(error)) from None


def _refuse_blocked(requested: list[str]) -> None:
    registry = {school.urn: school for school in list_schools(get_engine())}
    for urn in requested:
        school = registry.get(urn)
        reason = school.blocker() if school else None
        if reason:
            raise SyncRefused(f"school {urn} cannot be synced: {reason}")


def _targets(requested: list[str] | None) -> set[str]:
    """The schools to sync: those requested (each must be registered and contactable), or every
    school that may be contacted now."""
    registry = {school.urn: school for school in list_schools(get_engine())}
    if not requested:
        return {urn for urn, school in registry.items() if school.blocker() is None}
    for urn in requested:
        if urn not in registry:
            raise UnknownSchool(f"school {urn} is not registered: no approved connector school has that URN")
    _refuse_blocked(requested)
    return set(requested)


def _school_lines(run_id: str) -> list[str]:
    """One line per school synced in the run, from the warehouse's sync log."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(sync_log).where(sync_log.c.run_id == run_id).order_by(sync_log.c.school_urn, sync_log.c.id)
        ).all()
    by_school: dict[str, list] = {}
    for row in rows:
        by_school.setdefault(row.school_urn, []).append(row)
    lines = _pending_lines(run_id)
    for urn, entries in by_school.items():
        if urn in lines:
            continue  # a manual school's preview: its rows were not written
        mode = next((r.mode for r in entries if r.dataset == "pupils"), entries[0].mode)
        parts = [
            f"{r.dataset} {r.fetched} fetched, {r.inserted} new, {r.updated} updated, "
            f"{r.unchanged} unchanged, {r.quarantined} quarantined"
            for r in entries
        ]
        lines[urn] = f"{urn}: {mode} sync; " + "; ".join(parts)
    return [lines[urn] for urn in sorted(lines)]


def _pending_lines(run_id: str) -> dict[str, str]:
    """Manual schools whose changes the run held back, by URN."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(change_sets.c.school_urn, change_sets.c.counts).where(
                change_sets.c.run_id == run_id, change_sets.c.status == "pending"
            )
        ).all()
    lines = {}
    for urn, counts in rows:
        pupils = json.loads(counts)["pupils"]
        described = (
            ", ".join(f"{pupils[kind]} {kind}" for kind in CHANGE_KINDS if pupils.get(kind))
            or "item changes only"
        )
        lines[urn] = (
            f"{urn}: manual school, changes held as pending ({described}); "
            f"apply them with `mis-pipeline sync --school {urn}`"
        )
    return lines
