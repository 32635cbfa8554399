"""Has anything about a school's pupils changed since its stored cursor? Asked as cheaply as the
connector allows, so the new-pupil sensor can ask many schools every tick. No Dagster, no database.

- A school never synced (no stored core-record cursor) has changed, and is asked nothing.
- Wonde: the school object (its regional domain: asking the wrong domain "returns no data"), then
  one-record pages (`per_page=1`) of students, leavers and deletions `updated_after` the stored
  cursor, stopping at the first that has a record. Leavers count because a pupil who leaves moves
  from `students` to `students-leaver`, which the sync reads.
- XoD: one page of one row (`pageSize=1`) of `Students` by `changedRows` from the stored hash, with
  the sync's own parameters (the changeset is computed before pagination, connectors.md §2.5):
  a changed row or a `Students_deleted` Id is a change; a refused hash is one too, since the sync
  then starts again with a full read.

Reading a change leaves the stored cursor where it is: the sync run reads from it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from mis_pipeline.connectors.errors import ConnectorError
from mis_pipeline.connectors.wonde import datasets as wd
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import STUDENT_PARAMS, XodResource, XodResponseError
from mis_pipeline.registry.store import RegisteredSchool

CORE_DATASET = "pupils"


@dataclass(frozen=True)
class Probe:
    """One school's answer. `failure` (one line: no pupil value, no secret) means the school could
    not be asked this tick: it is skipped, not counted as changed or unchanged."""

    urn: str
    changed: bool
    why: str
    failure: str | None = None


def one_record_clients(wonde: WondeResource, xod: XodResource) -> tuple[WondeResource, XodResource]:
    """Copies of the configured clients that ask for one record per page: a probe only needs to
    know whether a first record exists. Token, pacing, retries and transport rules are unchanged."""
    return wonde.model_copy(update={"per_page": 1}), xod.model_copy(update={"page_size": 1})


def probe_schools(
    schools: list[RegisteredSchool],
    cursors: dict[str, str | None],
    wonde: WondeResource,
    xod: XodResource,
    max_workers: int = 4,
) -> list[Probe]:
    """Probe each school (a few at a time: the connectors' per-host pacing still applies), in the
    order given. `cursors` holds each school's stored core-record cursor (None: never synced)."""
    if not schools:
        return []
    wonde_one, xod_one = one_record_clients(wonde, xod)
    with ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(schools))), thread_name_prefix="probe"
    ) as pool:
        return list(
            pool.map(
                lambda school: probe_school(school, cursors.get(school.urn), wonde_one, xod_one), schools
            )
        )


def probe_school(
    school: RegisteredSchool, cursor: str | None, wonde: WondeResource, xod: XodResource
) -> Probe:
    """Whether `school` changed since `cursor`. Pass one-record clients (`one_record_clients`)."""
    if cursor is None:
        return Probe(school.urn, True, "never synced")
    try:
        why = (
            _wonde_change(wonde, school.connector_school_id, datetime.fromisoformat(cursor))
            if school.connector == "wonde"
            else _xod_change(xod, school.connector_school_id, cursor)
        )
    except ConnectorError as error:  # connector messages name the school and path only
        return Probe(school.urn, False, "", failure=str(error))
    except Exception as error:  # noqa: BLE001 - another error's text could quote a value; keep its type
        return Probe(
            school.urn, False, "", failure=f"{type(error).__name__} while probing school {school.urn}"
        )
    return Probe(school.urn, why is not None, why or "no changes")


def _wonde_change(wonde: WondeResource, school_id: str, since: datetime) -> str | None:
    base = wonde.school_base_url(wonde.get_school(school_id))
    if _has_record(wonde.iter_student_pages(school_id, since, base_url=base)):
        return "students updated"
    if _has_record(wd.iter_leaver_pages(wonde, school_id, since, base_url=base)):
        return "leavers"
    if _has_record(wd.iter_deletion_pages(wonde, school_id, since, base_url=base)):
        return "deletions or restores"
    return None


def _xod_change(xod: XodResource, estab: str, cursor: str) -> str | None:
    pages = xod.iter_pages(estab, "Students", {**STUDENT_PARAMS, "changedRows": cursor})
    try:
        body = next(pages)
    except XodResponseError:
        # As the connector itself treats it (XodResource.iter_changed): an error answer to a
        # stored hash means the hash is refused or expired, and the sync starts again in full.
        return "stored changedRows hash refused: a full read follows"
    finally:
        pages.close()  # the first page says enough; never fetch the second
    if body.get("Students"):
        return "students updated"
    if body.get("Students_deleted"):
        return "deletions"
    return None


def _has_record(pages: Iterator[list[dict]]) -> bool:
    """Whether the first page holds a record; the pages after it are never requested."""
    try:
        return bool(next(pages, []))
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
