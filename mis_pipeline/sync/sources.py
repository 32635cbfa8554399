"""Read one school's data items from its connector, as canonical records. No Dagster, no database.

A source knows its connector's endpoints, cursors and normalisers; everything after it (keys,
contracts, writes) is the same for every connector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable, Iterator

from data_contracts import Rejection, Scope
from mis_pipeline.connectors import normalise as wn
from mis_pipeline.connectors import wonde_datasets as wd
from mis_pipeline.connectors import xod_normalise as xn
from mis_pipeline.connectors.errors import NotAuthorisedError
from mis_pipeline.connectors.wonde import WondeResource
from mis_pipeline.connectors.xod import XodChangesetError, XodResource

DATASET_OF_SCOPE = {
    Scope.CORE.value: "pupils",
    Scope.ADDITIONAL_DETAILS.value: "pupil_details",
    Scope.ATTENDANCE.value: "attendance_sessions",
    Scope.ASSESSMENTS.value: "assessment_results",
    Scope.GROUPS.value: "pupil_groups",
}
_READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


@dataclass
class DatasetRead:
    """What the connector delivered for one data item of one school."""

    dataset: str
    full: bool  # a complete read: what it lacks is gone at the source
    records: list[dict] = field(default_factory=list)
    unreadable: list[Rejection] = field(default_factory=list)
    fetched: int = 0
    next_cursor: str | None = None  # the connector's own cursor; None: the sync's start time
    deleted_mis_ids: list[str] = field(default_factory=list)  # pupils deleted at the connector
    restored_mis_ids: list[str] = field(default_factory=list)
    refreshed_groups: frozenset[tuple[str, str]] = frozenset()
    not_authorised: bool = False

    def take(self, raw_items: Iterable, convert: Callable[[object], list[dict]], ref: Callable[[object], str | None]):
        """Convert raw items, keeping any that cannot be read as rejections (by error type only:
        an error's text can quote a pupil value)."""
        for raw in raw_items:
            self.fetched += 1
            try:
                self.records.extend(convert(raw))
            except _READ_ERRORS as error:
                self.unreadable.append(Rejection({"connector_record_id": ref(raw)},
                                                 f"record: unreadable ({type(error).__name__})"))


@dataclass(frozen=True)
class ReadRequest:
    """Which items to read for one school, and each item's stored cursor (None: a full read)."""

    school_urn: str
    school_id: str  # the connector's id for the school (Wonde id, XoD estab)
    datasets: tuple[str, ...]
    cursors: dict[str, str | None]
    known_pupils: dict[str, str]  # connector pupil id -> MIS id, for pupils already held
    attendance_from: date
    attendance_to: date

    def since(self, dataset: str) -> datetime | None:
        cursor = self.cursors.get(dataset)
        return datetime.fromisoformat(cursor) if cursor else None


def _record_id(raw) -> str | None:
    return raw.get("id") if isinstance(raw, dict) else None


def _xod_id(raw) -> str | None:
    return str(raw.get("Id")) if isinstance(raw, dict) and raw.get("Id") is not None else None


def _optional(record: dict | None) -> list[dict]:
    return [] if record is None else [record]


def _guarded(dataset: str, full: bool, fill: Callable[[DatasetRead], None]) -> DatasetRead:
    """Read one optional item; a connector refusal is recorded for the item, not a failure."""
    read = DatasetRead(dataset, full)
    try:
        fill(read)
    except NotAuthorisedError:
        return DatasetRead(dataset, full, not_authorised=True)
    return read


class WondeSource:
    connector = "wonde"

    def __init__(self, wonde: WondeResource):
        self.wonde = wonde

    def read(self, request: ReadRequest) -> Iterator[DatasetRead]:
        """Every requested item; the core record first, since the others refer to its pupils."""
        pupil_ids = dict(request.known_pupils)
        yield from self._students(request, pupil_ids)
        datasets = request.datasets
        if "attendance_sessions" in datasets:
            yield _guarded("attendance_sessions", request.since("attendance_sessions") is None,
                           lambda read: self._attendance(request, pupil_ids, read))
        if "assessment_results" in datasets:
            yield _guarded("assessment_results", request.since("assessment_results") is None,
                           lambda read: self._results(request, pupil_ids, read))
        if "pupil_groups" in datasets:
            yield _guarded("pupil_groups", request.since("pupil_groups") is None,
                           lambda read: self._groups(request, pupil_ids, read))

    def _students(self, request: ReadRequest, pupil_ids: dict[str, str]) -> Iterator[DatasetRead]:
        # One pass feeds the core record and the details. If either needs a full read, both get one.
        wanted = [d for d in ("pupils", "pupil_details") if d in request.datasets]
        since = None if any(request.since(d) is None for d in wanted) else min(request.since(d) for d in wanted)
        core, details = DatasetRead("pupils", since is None), DatasetRead("pupil_details", since is None)
        with_details = "pupil_details" in wanted
        pages = (wd.iter_students_with_details(self.wonde, request.school_id, since) if with_details
                 else self.wonde.iter_student_pages(request.school_id, since))
        for page in pages:
            core.take(page, lambda raw: [wn.normalise_wonde_student(raw, request.school_urn)], _record_id)
            if with_details:
                details.take(page, lambda raw: _optional(wn.normalise_wonde_details(raw, request.school_urn)),
                             _record_id)
        # Leavers move to their own endpoint; they are still the school's pupils until purged.
        for page in wd.iter_leaver_pages(self.wonde, request.school_id, since, with_details=with_details):
            core.take(page, lambda raw: [wn.normalise_wonde_student(raw, request.school_urn)], _record_id)
            if with_details:
                details.take(page, lambda raw: _optional(wn.normalise_wonde_details(raw, request.school_urn)),
                             _record_id)
        for page in wd.iter_deletion_pages(self.wonde, request.school_id, since):
            for deletion in page:
                if deletion.get("type") == "student" and deletion.get("mis_id") is not None:
                    target = core.restored_mis_ids if deletion.get("restored_at") else core.deleted_mis_ids
                    target.append(str(deletion["mis_id"]))
        for record in core.records:
            pupil_ids[record["connector_pupil_id"]] = record["mis_id"]
        yield core
        if with_details:
            yield details

    def _attendance(self, request: ReadRequest, pupil_ids: dict[str, str], read: DatasetRead) -> None:
        read.full = False  # a date window, not the whole history: nothing outside it is gone
        pages = wd.iter_attendance_pages(self.wonde, request.school_id, request.attendance_from,
                                         request.attendance_to, request.since(read.dataset))
        for page in pages:
            read.take(page, lambda raw: [wn.normalise_wonde_attendance(raw, request.school_urn, pupil_ids)], _record_id)

    def _results(self, request: ReadRequest, pupil_ids: dict[str, str], read: DatasetRead) -> None:
        for page in wd.iter_assessment(self.wonde, request.school_id, request.since(read.dataset)):
            read.take(page.results, lambda raw: [wn.normalise_wonde_result(
                raw, request.school_urn, pupil_ids, page.aspect_names, page.result_set_names)], _record_id)

    def _groups(self, request: ReadRequest, pupil_ids: dict[str, str], read: DatasetRead) -> None:
        for page in wd.iter_group_pages(self.wonde, request.school_id, request.since(read.dataset)):
            read.take(page, lambda raw: wn.normalise_wonde_group(raw, request.school_urn, pupil_ids), _record_id)
        read.refreshed_groups = frozenset((r["group_type"], r["group_code"]) for r in read.records)


class XodSource:
    """XoD: students by `changedRows` deltas (with `{Dataset}_deleted`); the other items are read
    whole each time (attendance over the school year so far)."""

    connector = "xod"

    def __init__(self, xod: XodResource):
        self.xod = xod

    def read(self, request: ReadRequest) -> Iterator[DatasetRead]:
        estab, urn = request.school_id, request.school_urn
        changes, pages = self._student_changes(estab, request.cursors.get("pupils"))
        core, details = DatasetRead("pupils", False), DatasetRead("pupil_details", False)
        with_details = "pupil_details" in request.datasets
        for page in pages:
            core.take(page, lambda raw: [xn.normalise_xod_student(raw, urn)], _xod_id)
            if with_details:
                details.take(page, lambda raw: _optional(xn.normalise_xod_details(raw, urn)), _xod_id)
        core.full = details.full = changes.full
        core.next_cursor = details.next_cursor = changes.next_cursor
        core.deleted_mis_ids = list(changes.deleted_ids)  # XoD Id is the MIS id
        yield core
        if with_details:
            yield details
        if "attendance_sessions" in request.datasets:
            yield _guarded("attendance_sessions", False, lambda read: read.take(
                (row for page in self.xod.iter_attendance_pages(estab, request.attendance_from, request.attendance_to)
                 for row in page), lambda raw: [xn.normalise_xod_attendance(raw, urn)], _xod_id))
        if "assessment_results" in request.datasets:
            yield _guarded("assessment_results", True, lambda read: read.take(
                (row for page in self.xod.iter_assessment_pages(estab) for row in page),
                lambda raw: [xn.normalise_xod_result(raw, urn)], _xod_id))
        if "pupil_groups" in request.datasets:
            yield _guarded("pupil_groups", True, lambda read: self._groups(estab, urn, read))

    def _student_changes(self, estab: str, cursor: str | None):
        """The students changed since `cursor`; an expired or refused cursor falls back to a full read."""
        try:
            changes = self.xod.student_changes(estab, cursor)
            return changes, list(changes.pages())
        except XodChangesetError:
            if cursor is None:
                raise
        changes = self.xod.student_changes(estab, None)
        return changes, list(changes.pages())

    def _groups(self, estab: str, urn: str, read: DatasetRead) -> None:
        for page in self.xod.iter_group_pages(estab):
            read.take([page], lambda body: xn.normalise_xod_groups(body["Group"], body["StudentMembers"], urn),
                      lambda body: None)
