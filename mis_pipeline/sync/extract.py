"""Fetch one school's core pupil records and judge them against the contract. No Dagster here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator

from data_contracts import PUPILS, Rejection, split_valid
from mis_pipeline.lib.identity import pupil_key
from mis_pipeline.warehouse.pupils_store import SchoolSync

# Deltas ask for rows changed since the previous sync started, less this margin, so a row the
# connector stamps a little late is still picked up; refetched unchanged rows write nothing.
CURSOR_OVERLAP = timedelta(minutes=10)
DATASET = "pupils"

Normaliser = Callable[[dict, str], dict]


def next_cursor(started_at: datetime) -> str:
    return (started_at - CURSOR_OVERLAP).astimezone(timezone.utc).isoformat()


def cursor_time(cursor: str | None) -> datetime | None:
    return datetime.fromisoformat(cursor) if cursor else None


def keyed_records(pages: Iterable[list[dict]], school_urn: str, normalise: Normaliser
                  ) -> Iterator[tuple[list[dict], list[Rejection]]]:
    """Per page: canonical records with their pupil key, and the records that could not be read."""
    for page in pages:
        records, unreadable = [], []
        for raw in page:
            try:
                record = normalise(raw, school_urn)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                # The error's text can quote the value; only its type is kept.
                unreadable.append(Rejection({"connector_pupil_id": raw.get("id") if isinstance(raw, dict) else None},
                                            f"record: unreadable ({type(error).__name__})"))
                continue
            if not record.get("mis_id"):
                unreadable.append(Rejection({"connector_pupil_id": record.get("connector_pupil_id")},
                                            "mis_id: not_nullable"))
                continue
            record["pupil_key"] = pupil_key(school_urn, record["mis_id"])
            records.append(record)
        yield records, unreadable


def extract_school(pages: Iterable[list[dict]], school_urn: str, cursor: str | None,
                   started_at: datetime, normalise: Normaliser) -> SchoolSync:
    """Stream a school's pages into good records and rejections (with the rule each broke)."""
    good: list[dict] = []
    rejected: list[Rejection] = []
    fetched = 0
    for records, unreadable in keyed_records(pages, school_urn, normalise):
        fetched += len(records) + len(unreadable)
        page_good, page_rejected = split_valid(PUPILS, records)
        good.extend(page_good)
        rejected.extend(unreadable)
        rejected.extend(page_rejected)
    return SchoolSync(
        school_urn=school_urn, dataset=DATASET, mode="incremental" if cursor else "full",
        cursor=next_cursor(started_at), started_at=started_at, fetched=fetched,
        good=_last_per_key(good), rejected=rejected,
    )


def _last_per_key(records: list[dict]) -> list[dict]:
    # A record can move between pages while we read them; keep its newest copy only once.
    by_key = {record["pupil_key"]: record for record in records}
    return list(by_key.values()) if len(by_key) != len(records) else records
