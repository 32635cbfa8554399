"""Sync many schools in one process: each school in its own transaction, several at a time.

One school's failure is recorded and never stops the others; its previous state stays intact
because nothing of a failed school's sync is committed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from mis_pipeline.connectors.errors import ConnectorError, NotAuthorisedError
from mis_pipeline.lib.academic import academic_year_start
from mis_pipeline.lib.crypto import KeyringError
from mis_pipeline.registry.store import RegisteredSchool
from mis_pipeline.sync.extract import keyed_sync
from mis_pipeline.sync.held_back import HELD_BACK, arriving_pupils, release_and_hold_back
from mis_pipeline.sync.sources import DATASET_OF_SCOPE, ReadRequest
from mis_pipeline.warehouse.quarantine_store import held_back_items, held_pupils
from mis_pipeline.warehouse.reader import ConnectorIds
from mis_pipeline.warehouse.school_store import (
    DatasetSync,
    SyncCounts,
    advance_empty_deltas,
    read_cursors,
    write_school,
)
from mis_pipeline.warehouse.vault import Vault


@dataclass(frozen=True)
class SchoolOutcome:
    urn: str
    status: str  # synced | not_authorised | failed | refused | skipped (blocked, in an automated range)
    mode: str | None = None  # of the core record: full | incremental
    counts: dict[str, SyncCounts] = field(default_factory=dict)  # per dataset
    reason: str | None = None  # one line, no pupil values
    not_authorised: tuple[str, ...] = ()  # items the connector refused although granted
    refusals: tuple[str, ...] = ()  # the connector's reason for each of them, one line each
    empty_deltas: tuple[DatasetSync, ...] = ()  # written later, with the run's other empty deltas
    withdrawn: tuple[str, ...] = ()  # items removed because they left the school's scope
    change_set: dict | None = None  # its counts; None when nothing changed
    change_set_status: str | None = None  # applied | pending (a manual school's preview)


def scoped_datasets(school: RegisteredSchool) -> tuple[str, ...]:
    """The datasets to read: the school's scope (granted, less withheld), core record first."""
    granted = [DATASET_OF_SCOPE[scope] for scope in school.scope if scope in DATASET_OF_SCOPE]
    return tuple(sorted(granted, key=lambda d: d != "pupils"))


def withdrawn_datasets(held: set[str], scoped: tuple[str, ...]) -> tuple[str, ...]:
    """Items held (they have a cursor) that are no longer in scope: to be removed now."""
    return tuple(sorted(d for d in held if d not in scoped and d != "pupils"))


def sync_school(
    engine: Engine,
    vault: Vault,
    sources: dict,
    school: RegisteredSchool,
    run_id: str | None,
    today: date | None = None,
    apply: bool = True,
    actor: str = "sync",
) -> SchoolOutcome:
    """Sync one school; `apply=False` only computes its change set and holds it as pending."""
    datasets = scoped_datasets(school)
    if "pupils" not in datasets:
        return SchoolOutcome(
            school.urn, "not_authorised", reason=f"school {school.urn} has not granted the core record"
        )
    started_at = datetime.now(UTC)
    today = today or started_at.date()
    try:
        cursors = read_cursors(engine, school.urn)
        withdrawn = withdrawn_datasets(set(cursors), datasets)
        source = sources[school.connector]
        request = ReadRequest(
            school_urn=school.urn,
            school_id=school.connector_school_id,
            datasets=datasets,
            cursors={d: cursors.get(d) for d in datasets},
            known_pupils=ConnectorIds(engine, vault, school.urn),
            attendance_from=academic_year_start(today),
            attendance_to=today,
            received_at=started_at,
        )
        syncs, refused, reasons = [], [], []
        for read in source.read(request):
            if read.not_authorised:
                refused.append(read.dataset)
                reasons.append(read.refusal or f"{read.dataset}: not authorised")
            else:
                syncs.append(keyed_sync(read, school.urn, started_at, vault.pseudonyms))
        syncs = _with_quarantined_pupils_items_held_back(engine, vault, school.urn, syncs)
        empty = tuple(s for s in syncs if s.is_empty_delta)
        written = [s for s in syncs if not s.is_empty_delta]
        result = (
            write_school(engine, vault, written, run_id, school.urn, withdrawn, apply=apply, actor=actor)
            if written or withdrawn
            else None
        )
    except NotAuthorisedError as error:
        return SchoolOutcome(school.urn, "not_authorised", reason=str(error))
    except (ConnectorError, KeyringError) as error:  # their messages carry no pupil value or key material
        return SchoolOutcome(school.urn, "failed", reason=str(error))
    except Exception as error:  # noqa: BLE001 - database errors can quote row values; keep the type only
        return SchoolOutcome(
            school.urn, "failed", reason=f"{type(error).__name__} while syncing school {school.urn}"
        )
    counts = dict(result.counts) if result else {}
    counts.update({s.dataset: SyncCounts(0, 0, 0, 0, 0) for s in empty})
    core_mode = next((s.mode for s in syncs if s.dataset == "pupils"), None)
    return SchoolOutcome(
        school.urn,
        "synced",
        mode=core_mode,
        counts=counts,
        not_authorised=tuple(refused),
        refusals=tuple(reasons),
        empty_deltas=empty,
        withdrawn=withdrawn,
        change_set=result.change_set if result else None,
        change_set_status=result.change_set_status if result else None,
    )


def _with_quarantined_pupils_items_held_back(
    engine: Engine, vault: Vault, urn: str, syncs: list[DatasetSync]
) -> list[DatasetSync]:
    held = held_pupils(engine, urn)
    arriving = arriving_pupils(syncs) & held.quarantined  # their held-back items land with them
    released = held_back_items(engine, vault, urn, HELD_BACK, arriving) if arriving else {}
    return release_and_hold_back(syncs, held.on_roll, held.off_roll, held.quarantined, released)


def sync_schools(
    engine: Engine,
    vault: Vault,
    sources: dict,
    schools: list[RegisteredSchool],
    run_id: str | None,
    max_workers: int = 4,
    preview: frozenset[str] = frozenset(),
    actor: str = "sync",
) -> list[SchoolOutcome]:
    """Sync every school given, `max_workers` at a time, and report each school's outcome in order.
    Schools in `preview` only get a pending change set."""
    if not schools:
        return []
    with ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(schools))), thread_name_prefix="school-sync"
    ) as pool:
        outcomes = list(
            pool.map(
                lambda school: sync_school(
                    engine, vault, sources, school, run_id, apply=school.urn not in preview, actor=actor
                ),
                schools,
            )
        )
    advance_empty_deltas(engine, [s for o in outcomes for s in o.empty_deltas], run_id)
    return outcomes
