"""Read one school's data items from its connector, as canonical records. No Dagster, no database.

A source knows its connector's endpoints and normalisers; everything after it (keys, contracts,
writes) is the same for every connector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable, Iterator

from data_contracts import Rejection, Scope
from mis_pipeline.connectors import normalise as wn
from mis_pipeline.connectors import wonde_datasets as wd
from mis_pipeline.connectors.errors import NotAuthorisedError
from mis_pipeline.connectors.wonde import WondeResource

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
    full: bool
    records: list[dict] = field(default_factory=list)
    unreadable: list[Rejection] = field(default_factory=list)
    fetched: int = 0
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
    """Which items to read for one school, and from when (None: a full read)."""

    school_urn: str
    school_id: str  # the connector's id for the school
    datasets: tuple[str, ...]
    since: dict[str, datetime | None]
    known_pupils: dict[str, str]  # connector pupil id -> MIS id, for pupils already held
    attendance_from: date
    attendance_to: date


def _record_id(raw) -> str | None:
    return raw.get("id") if isinstance(raw, dict) else None


class WondeSource:
    connector = "wonde"

    def __init__(self, wonde: WondeResource):
        self.wonde = wonde

    def read(self, request: ReadRequest) -> Iterator[DatasetRead]:
        """Every requested item; the core record first, since the others refer to its pupils."""
        pupil_ids = dict(request.known_pupils)
        if "pupils" in request.datasets or "pupil_details" in request.datasets:
            yield from self._students(request, pupil_ids)
        if "attendance_sessions" in request.datasets:
            yield self._guarded("attendance_sessions", request, lambda read: self._attendance(request, pupil_ids, read))
        if "assessment_results" in request.datasets:
            yield self._guarded("assessment_results", request, lambda read: self._results(request, pupil_ids, read))
        if "pupil_groups" in request.datasets:
            yield self._guarded("pupil_groups", request, lambda read: self._groups(request, pupil_ids, read))

    def _students(self, request: ReadRequest, pupil_ids: dict[str, str]) -> Iterator[DatasetRead]:
        # One pass feeds the core record and the details. If either needs a full read, both get one.
        wanted = [d for d in ("pupils", "pupil_details") if d in request.datasets]
        since = None if any(request.since.get(d) is None for d in wanted) else min(request.since[d] for d in wanted)
        core, details = DatasetRead("pupils", since is None), DatasetRead("pupil_details", since is None)
        with_details = "pupil_details" in wanted
        pages = (wd.iter_students_with_details(self.wonde, request.school_id, since) if with_details
                 else self.wonde.iter_student_pages(request.school_id, since))
        for page in pages:
            core.take(page, lambda raw: [wn.normalise_wonde_student(raw, request.school_urn)], _record_id)
            if with_details:
                details.take(page, lambda raw: _optional(wn.normalise_wonde_details(raw, request.school_urn)), _record_id)
        for record in core.records:
            pupil_ids[record["connector_pupil_id"]] = record["mis_id"]
        if "pupils" in wanted:
            yield core
        if with_details:
            yield details

    def _guarded(self, dataset: str, request: ReadRequest, fill: Callable[[DatasetRead], None]) -> DatasetRead:
        read = DatasetRead(dataset, request.since.get(dataset) is None)
        try:
            fill(read)
        except NotAuthorisedError:
            return DatasetRead(dataset, read.full, not_authorised=True)
        return read

    def _attendance(self, request: ReadRequest, pupil_ids: dict[str, str], read: DatasetRead) -> None:
        pages = wd.iter_attendance_pages(self.wonde, request.school_id, request.attendance_from,
                                         request.attendance_to, request.since.get(read.dataset))
        for page in pages:
            read.take(page, lambda raw: [wn.normalise_wonde_attendance(raw, request.school_urn, pupil_ids)], _record_id)

    def _results(self, request: ReadRequest, pupil_ids: dict[str, str], read: DatasetRead) -> None:
        for page in wd.iter_assessment(self.wonde, request.school_id, request.since.get(read.dataset)):
            read.take(page.results, lambda raw: [wn.normalise_wonde_result(
                raw, request.school_urn, pupil_ids, page.aspect_names, page.result_set_names)], _record_id)

    def _groups(self, request: ReadRequest, pupil_ids: dict[str, str], read: DatasetRead) -> None:
        refreshed = set()
        for page in wd.iter_group_pages(self.wonde, request.school_id, request.since.get(read.dataset)):
            read.take(page, lambda raw: wn.normalise_wonde_group(raw, request.school_urn, pupil_ids), _record_id)
            refreshed.update((r["group_type"], r["group_code"]) for r in read.records)
        read.refreshed_groups = frozenset(refreshed)


def _optional(record: dict | None) -> list[dict]:
    return [] if record is None else [record]
