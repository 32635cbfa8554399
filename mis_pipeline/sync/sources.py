"""Read one school's data items from its connector, as canonical records. No Dagster, no database.

A source knows its connector's endpoints, cursors and normalisers; everything after it (keys,
contracts, writes) is the same for every connector.
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain

from data_contracts import Rejection, Scope
from mis_pipeline.connectors.canonical import RecordDefect
from mis_pipeline.connectors.errors import NotAuthorisedError
from mis_pipeline.connectors.wonde import datasets as wd
from mis_pipeline.connectors.wonde import normalise as wn
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod import normalise as xn
from mis_pipeline.connectors.xod.client import XodChangeset, XodChangesetError, XodResource

DATASET_OF_SCOPE = {
    Scope.CORE.value: "pupils",
    Scope.ADDITIONAL_DETAILS.value: "pupil_details",
    Scope.ATTENDANCE.value: "attendance_sessions",
    Scope.ASSESSMENTS.value: "assessment_results",
    Scope.GROUPS.value: "pupil_groups",
}
_READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError)
# What quarantine says of a record whose shape matches no documented one (no field to name).
UNDOCUMENTED_SHAPE = "record: not in a documented shape"


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
    refusal: str | None = None  # the connector's reason, one line, when not_authorised

    def take(
        self,
        raw_items: Iterable,
        convert: Callable[[object], list[dict]],
        ref: Callable[[object], str | None],
    ):
        """Convert raw items. One that cannot be read is kept, as received, as a rejection: the
        rule is the defect's own `field: what is wrong` (never an error's text, which can quote
        a value). Every record remembers the connector's id for it, so quarantine can name it
        stably whether it arrives readable or not."""
        for raw in raw_items:
            self.fetched += 1
            try:
                converted = convert(raw)
            except RecordDefect as defect:
                self.reject(raw, ref(raw), str(defect))
                continue
            except _READ_ERRORS:
                self.reject(raw, ref(raw), UNDOCUMENTED_SHAPE)
                continue
            if self.dataset != "pupils":
                record_id = ref(raw)
                for record in converted:
                    record["connector_record_id"] = record_id
            self.records.extend(converted)

    def reject(self, raw, record_id: str | None, rule: str) -> None:
        self.unreadable.append(Rejection({"connector_record_id": record_id, "received": raw}, rule))


@dataclass(frozen=True)
class ReadRequest:
    """Which items to read for one school, and each item's stored cursor (None: a full read)."""

    school_urn: str
    school_id: str  # the connector's id for the school (Wonde id, XoD estab)
    datasets: tuple[str, ...]
    cursors: dict[str, str | None]
    known_pupils: Mapping[str, str]  # connector pupil id -> MIS id, for pupils already held
    attendance_from: date
    attendance_to: date
    # The sync's own time: a record's `source_updated_at` when the connector sends none.
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def since(self, dataset: str) -> datetime | None:
        cursor = self.cursors.get(dataset)
        return datetime.fromisoformat(cursor) if cursor else None


def _record_id(raw) -> str | None:
    return raw.get("id") if isinstance(raw, dict) else None


def _xod_id(raw) -> str | None:
    return str(raw.get("Id")) if isinstance(raw, dict) and raw.get("Id") is not None else None


def _optional(record: dict | None) -> list[dict]:
    return [] if record is None else [record]


def student_deletions(rows: Iterable) -> tuple[list[str], list[str]]:
    """(MIS ids deleted, MIS ids whose deletion was undone) from Wonde `deletions` rows; rows of
    other types (contacts, groups…) are not pupils."""
    deleted, restored = [], []
    for row in rows:
        if isinstance(row, dict) and row.get("type") == "student" and row.get("mis_id") is not None:
            (restored if row.get("restored_at") else deleted).append(str(row["mis_id"]))
    return deleted, restored


def _guarded(dataset: str, full: bool, fill: Callable[[DatasetRead], None]) -> DatasetRead:
    """Read one optional item; a connector refusal is recorded for the item, not a failure."""
    read = DatasetRead(dataset, full)
    try:
        fill(read)
    except NotAuthorisedError as error:
        return DatasetRead(dataset, full, not_authorised=True, refusal=str(error))
    return read


class WondeSource:
    """Wonde: every item by `updated_after` deltas once it has a cursor, from the school's own
    regional domain (the school object's `region.domain`, connectors.md §1.2)."""

    connector = "wonde"

    def __init__(self, wonde: WondeResource):
        self.wonde = wonde

    def read(self, request: ReadRequest) -> Iterator[DatasetRead]:
        """Every requested item; the core record first, since the others refer to its pupils."""
        base = self.wonde.school_base_url(self.wonde.get_school(request.school_id))
        # This sync's pupils first; the held ones are looked up only when a reference needs them.
        pupil_ids = ChainMap({}, request.known_pupils)
        core, details, leavers_read = self._students(request, pupil_ids, base)
        yield core
        if details is not None:
            yield details
        datasets = request.datasets
        if "attendance_sessions" in datasets:
            # Leavers' marks have their own endpoint. A full read asks for them when it met
            # leavers; a delta always does, since leavers from earlier syncs are not known here.
            with_leavers = leavers_read > 0 or request.since("attendance_sessions") is not None
            yield _guarded(
                "attendance_sessions",
                False,
                lambda read: self._attendance(request, pupil_ids, read, base, with_leavers),
            )
        if "assessment_results" in datasets:
            yield _guarded(
                "assessment_results",
                request.since("assessment_results") is None,
                lambda read: self._results(request, pupil_ids, read, base),
            )
        if "pupil_groups" in datasets:
            yield _guarded(
                "pupil_groups",
                request.since("pupil_groups") is None,
                lambda read: self._groups(request, pupil_ids, read, base),
            )

    def _students(
        self, request: ReadRequest, pupil_ids: MutableMapping[str, str], base: str
    ) -> tuple[DatasetRead, DatasetRead | None, int]:
        """(core, details or None, leaver records read). One pass feeds the core record and the
        details; if either needs a full read, both get one."""
        wanted = [d for d in ("pupils", "pupil_details") if d in request.datasets]
        since = (
            None if any(request.since(d) is None for d in wanted) else min(request.since(d) for d in wanted)
        )
        core, details = DatasetRead("pupils", since is None), DatasetRead("pupil_details", since is None)
        with_details = "pupil_details" in wanted
        school_id, urn = request.school_id, request.school_urn
        pages = (
            wd.iter_students_with_details(self.wonde, school_id, since, base_url=base)
            if with_details
            else self.wonde.iter_student_pages(school_id, since, base_url=base)
        )
        for page in pages:
            self._take_students(page, urn, core, details if with_details else None, request.received_at)
        # Leavers move to their own endpoint; they are still the school's pupils until purged.
        on_roll = core.fetched
        for page in wd.iter_leaver_pages(
            self.wonde, school_id, since, with_details=with_details, base_url=base
        ):
            self._take_students(page, urn, core, details if with_details else None, request.received_at)
        for page in wd.iter_deletion_pages(self.wonde, school_id, since, base_url=base):
            deleted, restored = student_deletions(page)
            core.deleted_mis_ids.extend(deleted)
            core.restored_mis_ids.extend(restored)
        for record in core.records:
            pupil_ids[record["connector_pupil_id"]] = record["mis_id"]
        return core, details if with_details else None, core.fetched - on_roll

    @staticmethod
    def _take_students(
        page: list, urn: str, core: DatasetRead, details: DatasetRead | None, received_at: datetime | None
    ) -> None:
        core.take(page, lambda raw: [wn.normalise_wonde_student(raw, urn, received_at)], _record_id)
        if details is not None:
            details.take(
                page, lambda raw: _optional(wn.normalise_wonde_details(raw, urn, received_at)), _record_id
            )

    def _attendance(
        self,
        request: ReadRequest,
        pupil_ids: MutableMapping[str, str],
        read: DatasetRead,
        base: str,
        with_leavers: bool,
    ) -> None:
        read.full = False  # a date window, not the whole history: nothing outside it is gone
        window = (
            self.wonde,
            request.school_id,
            request.attendance_from,
            request.attendance_to,
            request.since(read.dataset),
        )
        pages = wd.iter_attendance_pages(*window, base_url=base)
        if with_leavers:
            pages = chain(pages, wd.iter_leaver_attendance_pages(*window, base_url=base))
        for page in pages:
            read.take(
                page,
                lambda raw: [
                    wn.normalise_wonde_attendance(raw, request.school_urn, pupil_ids, request.received_at)
                ],
                _record_id,
            )

    def _results(
        self, request: ReadRequest, pupil_ids: MutableMapping[str, str], read: DatasetRead, base: str
    ) -> None:
        for page in wd.iter_assessment(
            self.wonde, request.school_id, request.since(read.dataset), base_url=base
        ):
            read.take(
                page.results,
                lambda raw, page=page: [  # take() calls it at once; bound for the reader
                    wn.normalise_wonde_result(
                        raw,
                        request.school_urn,
                        pupil_ids,
                        page.aspect_names,
                        page.result_set_names,
                        request.received_at,
                    )
                ],
                _record_id,
            )

    def _groups(
        self, request: ReadRequest, pupil_ids: MutableMapping[str, str], read: DatasetRead, base: str
    ) -> None:
        """Each group read comes whole (its members included), so a group read in a delta
        replaces its memberships, an emptied group's too. A group that could not be read keeps
        what is held; a member who is not one of the school's pupils is quarantined alone and
        the group lands for its other members."""
        refreshed = set()
        for page in wd.iter_group_pages(
            self.wonde, request.school_id, request.since(read.dataset), base_url=base
        ):
            for raw in page:
                unreadable, unknown = len(read.unreadable), []
                read.take(
                    [raw],
                    lambda group: wn.normalise_wonde_group(
                        group,
                        request.school_urn,
                        pupil_ids,
                        request.received_at,
                        unknown,  # noqa: B023 (called at once)
                    ),
                    _record_id,
                )
                for member in unknown:
                    read.reject({"group": raw.get("id"), "student": member}, None, wn.STUDENT_UNKNOWN)
                key = wn.wonde_group_key(raw) if isinstance(raw, dict) else None
                if key is not None and len(read.unreadable) == unreadable + len(unknown):
                    refreshed.add(key)
        read.refreshed_groups = frozenset(refreshed)


class XodSource:
    """XoD: students, attendance and assessment results by `changedRows` deltas; groups whole.

    Each changedRows chain is one exact call (connectors.md §2.5), so attendance asks for the
    whole school year (DateFrom 1 September, DateTo 31 August) to keep its parameters fixed, and
    stores its AM and PM hashes, and results their hash, as JSON {changes_key: NextChangedRows}:
    a call whose parameters changed (a new school year, a new aspect) finds no hash and starts
    from `*`. A refused or expired hash also starts again from `*`.

    `{Dataset}_deleted` lists: `Students_deleted` marks pupils deleted at the connector. Those of
    marks and results are not applied, since the store drops such rows only on a full read: they
    name the rows of pupils deleted at the connector, which are kept like every item of theirs
    until the retention purge (as on Wonde, whose deltas never report such rows). Groups are read
    whole each sync: a group delta names ended memberships only by Id, while the store drops
    memberships only for groups re-read whole."""

    connector = "xod"

    def __init__(self, xod: XodResource):
        self.xod = xod

    def read(self, request: ReadRequest) -> Iterator[DatasetRead]:
        estab, urn = request.school_id, request.school_urn
        changes, pages = _changed_pages(
            lambda cursor: self.xod.student_changes(estab, cursor), request.cursors.get("pupils")
        )
        core, details = DatasetRead("pupils", False), DatasetRead("pupil_details", False)
        with_details = "pupil_details" in request.datasets
        for page in pages:
            core.take(page, lambda raw: [xn.normalise_xod_student(raw, urn, request.received_at)], _xod_id)
            if with_details:
                details.take(
                    page,
                    lambda raw: _optional(xn.normalise_xod_details(raw, urn, request.received_at)),
                    _xod_id,
                )
        core.full = details.full = changes.full
        core.next_cursor = details.next_cursor = changes.next_cursor
        core.deleted_mis_ids = list(changes.deleted_ids)  # XoD Id is the MIS id
        yield core
        if with_details:
            yield details
        if "attendance_sessions" in request.datasets:
            yield _guarded("attendance_sessions", False, lambda read: self._attendance(request, read))
        if "assessment_results" in request.datasets:
            yield _guarded("assessment_results", True, lambda read: self._results(request, read))
        if "pupil_groups" in request.datasets:
            yield _guarded(
                "pupil_groups", True, lambda read: self._groups(estab, urn, read, request.received_at)
            )

    def _attendance(self, request: ReadRequest, read: DatasetRead) -> None:
        read.full = False  # a school year's window: marks outside it are not gone
        stored = _hashes(request.cursors.get(read.dataset))
        year_start = request.attendance_from
        year_end = date(year_start.year + 1, 8, 31)
        hashes = {}
        for session in ("AM", "PM"):
            changes, pages = _changed_pages(
                lambda cursors, session=session: self.xod.attendance_changes(
                    request.school_id, year_start, year_end, session, cursors
                ),
                stored,
                start_again={},
            )
            for page in pages:
                read.take(
                    page,
                    lambda raw: [xn.normalise_xod_attendance(raw, request.school_urn, request.received_at)],
                    _xod_id,
                )
            hashes[changes.key] = changes.next_cursor
        read.next_cursor = json.dumps(hashes, sort_keys=True)

    def _results(self, request: ReadRequest, read: DatasetRead) -> None:
        stored = _hashes(request.cursors.get(read.dataset))
        changes, pages = _changed_pages(
            lambda cursors: self.xod.assessment_changes(request.school_id, cursors), stored, start_again={}
        )
        if changes is None:
            return  # no aspects, so no results: a full read of nothing
        for page in pages:
            read.take(
                page,
                lambda raw: [
                    xn.normalise_xod_result(raw, request.school_urn, received_at=request.received_at)
                ],
                _xod_id,
            )
        read.full = changes.full
        read.next_cursor = json.dumps({changes.key: changes.next_cursor}, sort_keys=True)

    def _groups(self, estab: str, urn: str, read: DatasetRead, received_at: datetime | None) -> None:
        for page in self.xod.iter_group_pages(estab):
            members: dict[str, list[dict]] = {}
            for member in page["StudentMembers"]:
                members.setdefault(str(member.get("GroupId")), []).append(member)
            read.take(
                page["Group"],
                lambda group: xn.normalise_xod_groups(
                    [group],
                    members.get(str(group.get("Id")), []),
                    urn,
                    received_at,  # noqa: B023 (called at once)
                ),
                _xod_id,
            )


def _changed_pages(fetch: Callable[[object], XodChangeset | None], cursor, start_again=None):
    """(changeset, its pages) for `cursor`, or (None, []) when there is nothing to read; a refused
    or expired cursor starts again from `start_again` (a full read)."""
    if cursor != start_again:
        try:
            return _all_pages(fetch(cursor))
        except XodChangesetError:
            pass
    return _all_pages(fetch(start_again))


def _all_pages(changes: XodChangeset | None):
    return (None, []) if changes is None else (changes, list(changes.pages()))


def _hashes(cursor: str | None) -> dict[str, str]:
    """A stored {changes_key: NextChangedRows} cursor; anything else (none yet, or a cursor from
    before deltas, a time) means no chain: start from `*`."""
    try:
        loaded = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(key): str(value) for key, value in loaded.items()}
