"""Wonde's other data items: extended pupil details, session attendance, assessment, groups.

Plain functions over a `WondeResource`, so they share its page iterator (`_iter_pages`): the same
pagination rules, auth, retries, pacing and transport checks as the core student sync. Each yields
raw pages (lists of Wonde records) for the normalisers in `normalise.py`. A 403 (the school has not
granted the item) surfaces as `NotAuthorisedError` on the first page, which the sync records as
"not authorised" rather than as a failure.

Parameter names are facts unless noted: `updated_after` (connectors.md §1.6), `include`,
`per_page`. The attendance date range `date_from`/`date_to` is OUR naming; the real names were
not found (connectors.md §1.4) and must be checked against the live API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, NamedTuple

from mis_pipeline.connectors.wonde.client import WondeResource, format_updated_after


class AssessmentPage(NamedTuple):
    """One page of raw results, with the school's aspect and result-set names to resolve them
    (the same two dicts on every page)."""

    results: list[dict]
    aspect_names: dict[str, str]  # aspect id -> name
    result_set_names: dict[str, str]  # result set id -> name


def _params(wonde: WondeResource, updated_after: datetime | None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {key: value for key, value in extra.items() if value is not None}
    params["per_page"] = wonde.per_page
    if updated_after is not None:
        params["updated_after"] = format_updated_after(updated_after)
    return params


def _pages(
    wonde: WondeResource, school_id: str, item: str, params: dict | None, base_url: str | None
) -> Iterator[list[dict]]:
    base = wonde._base_for(base_url)
    yield from wonde._iter_pages(f"{base}/schools/{school_id}/{item}", params, school_id, base)


def iter_students_with_details(
    wonde: WondeResource,
    school_id: str,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Iterator[list[dict]]:
    """Student pages with `education_details` and `extended_details`, so one pass feeds both the
    core record (`normalise_wonde_student`) and the details (`normalise_wonde_details`). Without
    the optional `students.extended.read` grant Wonde leaves `extended_details` out (no 403), and
    `normalise_wonde_details` returns None for those records. `updated_after` filters on the
    student's `updated_at`."""
    params = _params(wonde, updated_after, include="education_details,extended_details")
    yield from _pages(wonde, school_id, "students", params, base_url)


def iter_attendance_pages(
    wonde: WondeResource,
    school_id: str,
    date_from: date,
    date_to: date,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Iterator[list[dict]]:
    """Session-mark pages for session dates `date_from`..`date_to` inclusive, with the
    attendance code included (the mark itself lives there). Needs `attendance.read`."""
    params = _params(
        wonde,
        updated_after,
        include="attendance_code",
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
    )
    yield from _pages(wonde, school_id, "attendance/session", params, base_url)


def iter_leaver_attendance_pages(
    wonde: WondeResource,
    school_id: str,
    date_from: date,
    date_to: date,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Iterator[list[dict]]:
    """Leavers' session marks (`attendance-leavers/session`, connectors.md §1.3, SECONDARY), in
    the same shape and with the same parameters as `iter_attendance_pages`: a pupil's marks move
    there when they leave, so a full read of the school's attendance needs both."""
    params = _params(
        wonde,
        updated_after,
        include="attendance_code",
        date_from=date_from.isoformat(),
        date_to=date_to.isoformat(),
    )
    yield from _pages(wonde, school_id, "attendance-leavers/session", params, base_url)


def iter_assessment(
    wonde: WondeResource,
    school_id: str,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Iterator[AssessmentPage]:
    """Result pages with the names they refer to. Aspects and result sets are read in full once,
    before the first result page (never filtered by `updated_after`: an unchanged aspect still
    names a changed result). Needs `assessment.read`."""
    every = _params(wonde, None)
    aspect_names = _names(_pages(wonde, school_id, "assessment/aspects", every, base_url))
    result_set_names = _names(_pages(wonde, school_id, "assessment/resultsets", every, base_url))
    for page in _pages(wonde, school_id, "assessment/results", _params(wonde, updated_after), base_url):
        yield AssessmentPage(page, aspect_names, result_set_names)


def iter_group_pages(
    wonde: WondeResource,
    school_id: str,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Iterator[list[dict]]:
    """Group pages (year, registration, house, teaching) with their members' ids. Needs
    `groups.read`. `updated_after` filters on the group's `updated_at`."""
    params = _params(wonde, updated_after, include="students")
    yield from _pages(wonde, school_id, "groups", params, base_url)


def iter_deletion_pages(
    wonde: WondeResource,
    school_id: str,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
) -> Iterator[list[dict]]:
    """Deletion pages: `{type, id, mis_id, deleted_at, restored_at}` rows (connectors.md §1.6),
    one per record removed from the MIS. A non-null `restored_at` means the record came back
    with the same `mis_id` under a NEW `id` (same `upi`). `updated_after` filters on the row's
    last change (the restore, else the deletion, in the simulator; the real semantics are
    unconfirmed), so a delta sees both new deletions and restores of older ones."""
    yield from _pages(wonde, school_id, "deletions", _params(wonde, updated_after), base_url)


def iter_leaver_pages(
    wonde: WondeResource,
    school_id: str,
    updated_after: datetime | None = None,
    *,
    base_url: str | None = None,
    with_details: bool = False,
) -> Iterator[list[dict]]:
    """Leaver pages (`students-leaver`): student records of the same shape as `students`, with
    `education_details` so `normalise_wonde_student` reads the UPN and `leaving_date` (and
    `extended_details` too when asked). `updated_after` filters on the record's `updated_at`
    (set when the pupil left)."""
    include = "education_details,extended_details" if with_details else "education_details"
    params = _params(wonde, updated_after, include=include)
    yield from _pages(wonde, school_id, "students-leaver", params, base_url)


def fetch_mis_ids(wonde: WondeResource, school_id: str, *, base_url: str | None = None) -> dict[str, str]:
    """Every current student's Wonde id -> `mis_id`: the map the attendance, result and group
    normalisers need. One light pass over `students` (no includes)."""
    pages = _pages(wonde, school_id, "students", _params(wonde, None), base_url)
    return {row["id"]: str(row["mis_id"]) for page in pages for row in page}


def _names(pages: Iterator[list[dict]]) -> dict[str, str]:
    return {row["id"]: row["name"] for page in pages for row in page}
