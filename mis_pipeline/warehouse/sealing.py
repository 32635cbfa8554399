"""Seal and open records' direct identifiers, as their contract classes them.

A row keeps its other columns as themselves (so retention, counts and joins need no key) and holds
its direct identifiers together in one AES-256-GCM ciphertext under the pupil's data key, bound to
the table and the pupil key so it cannot be moved onto another row.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

import orjson

from data_contracts import Contract, PiiClass
from mis_pipeline.lib.crypto import open_sealed, seal


@cache
def direct_columns(contract: Contract) -> tuple[str, ...]:
    return contract.columns_with_pii(PiiClass.DIRECT)


def _context(table: str, key_ref: str) -> bytes:
    return f"{table}\x1f{key_ref}".encode()


def seal_direct(contract: Contract, record: dict, key: bytes) -> bytes:
    values = {name: record.get(name) for name in direct_columns(contract)}
    return seal(key, orjson.dumps(values), _context(contract.dataset, record["pupil_key"]))


def open_direct(contract: Contract, sealed: bytes, key: bytes, pupil_key: str) -> dict:
    """The direct identifiers of one row, typed as the contract declares them."""
    values = orjson.loads(open_sealed(key, sealed, _context(contract.dataset, pupil_key)))
    return {name: _typed(contract.column(name).dtype, values.get(name)) for name in direct_columns(contract)}


def _typed(dtype: str, value):
    if value is None:
        return None
    if dtype == "date":
        return date.fromisoformat(value)
    if dtype == "datetime":
        return datetime.fromisoformat(value)
    return value


def seal_payload(record: dict, key: bytes, dataset: str, key_ref: str) -> bytes:
    """A quarantined record, as received, sealed under the data key it belongs to."""
    return seal(key, orjson.dumps(record, default=str), _context(f"quarantine:{dataset}", key_ref))


def open_payload(sealed: bytes, key: bytes, dataset: str, key_ref: str) -> dict:
    return orjson.loads(open_sealed(key, sealed, _context(f"quarantine:{dataset}", key_ref)))


def typed_record(contract: Contract, values: dict) -> dict:
    """A record opened from a quarantine payload, its contract columns typed again (the payload
    holds dates as ISO text); other keys as they were."""
    return {
        **values,
        **{c.name: _typed(c.dtype, values.get(c.name)) for c in contract.columns if c.name in values},
    }
