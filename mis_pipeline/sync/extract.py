"""Turn what a connector delivered into keyed, contract-checked records. No Dagster, no database.

Pupils are keyed by the internal pupil key (a keyed HMAC of the school and the MIS id, never the
UPN); every other item's reference to its pupil is replaced by that key, so the MIS id is stored
(sealed) with the core record only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from data_contracts import CONTRACTS, Rejection, split_valid
from data_contracts.validation import MISSING
from mis_pipeline.lib.crypto import Pseudonymiser
from mis_pipeline.sync.sources import DatasetRead
from mis_pipeline.warehouse.school_store import DatasetSync

# Deltas ask for rows changed since the previous sync started, less this margin, so a row the
# connector stamps a little late is still picked up; refetched unchanged rows write nothing.
CURSOR_OVERLAP = timedelta(minutes=10)


def next_cursor(started_at: datetime) -> str:
    return (started_at - CURSOR_OVERLAP).astimezone(UTC).isoformat()


def _key_core(record: dict, school_urn: str, pseudonyms: Pseudonymiser) -> str | None:
    if not record.get("mis_id"):
        return f"mis_id: {MISSING}"
    record["pupil_key"] = pseudonyms.pupil_key(school_urn, record["mis_id"])
    return None


def _key_reference(record: dict, school_urn: str, pseudonyms: Pseudonymiser) -> str | None:
    mis_id = record.pop("pupil_mis_id", None)
    if not mis_id:
        return f"pupil_mis_id: {MISSING}"
    record["pupil_key"] = pseudonyms.pupil_key(school_urn, mis_id)
    return None


def keyed_sync(
    read: DatasetRead, school_urn: str, started_at: datetime, pseudonyms: Pseudonymiser
) -> DatasetSync:
    """Key every record, check it against its contract, keep the newest copy of each."""
    contract = CONTRACTS[read.dataset]
    key_record = _key_core if read.dataset == "pupils" else _key_reference
    rejected = list(read.unreadable)
    keyed = []
    for record in read.records:
        rule = key_record(record, school_urn, pseudonyms)
        if rule is None:
            keyed.append(record)
        else:
            rejected.append(Rejection(record, rule))
    good, broken = split_valid(contract, keyed)
    rejected.extend(broken)
    return DatasetSync(
        school_urn=school_urn,
        dataset=read.dataset,
        mode="full" if read.full else "incremental",
        cursor=read.next_cursor or next_cursor(started_at),
        started_at=started_at,
        fetched=read.fetched,
        good=_last_per_key(good, contract.key),
        rejected=rejected,
        refreshed_groups=read.refreshed_groups,
        deleted_keys=frozenset(pseudonyms.pupil_key(school_urn, m) for m in read.deleted_mis_ids),
        restored_keys=frozenset(pseudonyms.pupil_key(school_urn, m) for m in read.restored_mis_ids),
    )


def _last_per_key(records: list[dict], key: tuple[str, ...]) -> list[dict]:
    # A record can move between pages while we read them; keep its newest copy only once.
    by_key = {tuple(record[k] for k in key): record for record in records}
    return list(by_key.values()) if len(by_key) != len(records) else records
