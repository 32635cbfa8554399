"""Sync many schools in one process: each school its own transaction, several at a time.

One school's failure is recorded and never stops the others; its previous state stays intact
because nothing of a failed school's sync is committed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Protocol, Iterator

from sqlalchemy import Engine

from mis_pipeline.connectors.errors import ConnectorError, NotAuthorisedError
from mis_pipeline.registry.store import RegisteredSchool
from mis_pipeline.warehouse.pupils_store import (
    SchoolSync, SyncCounts, advance_empty_deltas, is_empty_delta, read_cursor, write_school_sync,
)

from .extract import DATASET, cursor_time, extract_school


class PupilSource(Protocol):
    def iter_student_pages(self, school_id: str, updated_after: datetime | None) -> Iterator[list[dict]]: ...


@dataclass(frozen=True)
class SchoolOutcome:
    urn: str
    status: str  # synced | not_authorised | failed | refused
    mode: str | None = None
    counts: SyncCounts | None = None
    reason: str | None = None  # one line, no pupil values
    empty_delta: SchoolSync | None = None  # written later, with the run's other empty deltas


def sync_school(engine: Engine, source: PupilSource, school: RegisteredSchool, run_id: str | None,
                normalise: Callable[[dict, str], dict]) -> SchoolOutcome:
    cursor = read_cursor(engine, school.urn, DATASET)
    started_at = datetime.now(timezone.utc)
    try:
        pages = source.iter_student_pages(school.connector_school_id, cursor_time(cursor))
        sync = extract_school(pages, school.urn, cursor, started_at, normalise)
        if is_empty_delta(sync):
            return SchoolOutcome(school.urn, "synced", mode=sync.mode, counts=SyncCounts(0, 0, 0, 0, 0),
                                 empty_delta=sync)
        counts = write_school_sync(engine, sync, run_id)
    except NotAuthorisedError as error:
        return SchoolOutcome(school.urn, "not_authorised", reason=str(error))
    except ConnectorError as error:
        return SchoolOutcome(school.urn, "failed", reason=str(error))
    except Exception as error:  # noqa: BLE001 - database errors can quote row values; keep the type only
        return SchoolOutcome(school.urn, "failed", reason=f"{type(error).__name__} while syncing school {school.urn}")
    return SchoolOutcome(school.urn, "synced", mode=sync.mode, counts=counts)


def sync_schools(engine: Engine, source: PupilSource, schools: list[RegisteredSchool], run_id: str | None,
                 normalise: Callable[[dict, str], dict], max_workers: int = 4) -> list[SchoolOutcome]:
    """Sync every school given, `max_workers` at a time, and report each school's outcome in order."""
    if not schools:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(schools))),
                            thread_name_prefix="school-sync") as pool:
        outcomes = list(pool.map(lambda school: sync_school(engine, source, school, run_id, normalise), schools))
    advance_empty_deltas(engine, [o.empty_delta for o in outcomes if o.empty_delta is not None], run_id)
    return outcomes
