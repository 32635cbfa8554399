"""What a purge leaves to find again after a restore: a digest of every data key it destroyed, kept in
its audit entry (see `replay.py` for why). Pure but for reading the keys about to be destroyed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection

from mis_pipeline.lib.dates import as_utc
from mis_pipeline.warehouse.vault import Vault

_LABEL = b"mis-pipeline destroyed data key v1\x1f"


def key_digest(key: bytes) -> str:
    """128 bits of SHA-256 over the data key: matches only a copy of that very key."""
    return hashlib.sha256(_LABEL + key).hexdigest()[:32]


def destroyed_key_digests(conn: Connection, vault: Vault, refs: Iterable[str]) -> dict[str, str]:
    """The digests of these pupils' data keys, taken just before they are destroyed."""
    return {ref: key_digest(key) for ref, key in vault.existing_keys(conn, refs).items()}


@dataclass(frozen=True)
class Tombstone:
    school_urn: str
    rule: str
    as_of: date  # the original purge's date: the un-named record keeps it


def tombstones_since(entries: Iterable[dict], since: datetime) -> dict[str, Tombstone]:
    """Every data key a purge destroyed at or after `since`, from audit entries (the warehouse's own,
    or an export of them: `mis-pipeline audit --format json`)."""
    found: dict[str, Tombstone] = {}
    for entry in entries:
        occurred = entry["occurred_at"]
        occurred = as_utc(datetime.fromisoformat(occurred) if isinstance(occurred, str) else occurred)
        if entry["action"] != "purge" or occurred < since:
            continue
        detail = entry["detail"]
        for rule, digests in detail.get("destroyed_keys", {}).items():
            for digest in digests:
                found[digest] = Tombstone(entry["school_urn"], rule, date.fromisoformat(detail["as_of"]))
    return found
