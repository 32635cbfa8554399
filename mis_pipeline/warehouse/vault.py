"""The warehouse's keys: per-pupil data keys and the pseudonym secret, wrapped by the master key.

Opening the vault proves the configured master key is the warehouse's before anything is written:
a wrong key fails with the key ids involved (fingerprints, never key material) and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from mis_pipeline.lib.crypto import Keyring, Pseudonymiser, WrongMasterKeyError, generate_key
from mis_pipeline.warehouse.audit_log import record_audit
from mis_pipeline.warehouse.schema import data_keys, master_keys, vault_secrets

PSEUDONYM_SECRET = "pseudonym"
_CHUNK = 500


def school_key_ref(school_urn: str) -> str:
    """The data key for a school's records that name no pupil (e.g. quarantined without an id)."""
    return f"school:{school_urn}"


@dataclass(frozen=True)
class Vault:
    engine_url: str
    keyring: Keyring
    pseudonyms: Pseudonymiser

    def data_keys(self, conn: Connection, wanted: dict[str, str]) -> dict[str, bytes]:
        """The data keys for `wanted` (key ref -> school URN), creating those that do not exist."""
        keys = self.existing_keys(conn, wanted)
        missing = {ref: urn for ref, urn in wanted.items() if ref not in keys}
        if missing:
            now = datetime.now(UTC)
            rows = []
            for ref, urn in missing.items():
                key = generate_key()
                key_id, wrapped = self.keyring.wrap(key, ref)
                rows.append(
                    dict(key_ref=ref, school_urn=urn, master_key_id=key_id, wrapped=wrapped, created_at=now)
                )
                keys[ref] = key
            conn.execute(insert(data_keys), rows)
        return keys

    def existing_keys(self, conn: Connection, refs: Iterable[str]) -> dict[str, bytes]:
        """The data keys that exist among `refs`; a destroyed key is simply absent."""
        ordered = sorted(set(refs))
        keys: dict[str, bytes] = {}
        for start in range(0, len(ordered), _CHUNK):
            rows = conn.execute(
                select(data_keys.c.key_ref, data_keys.c.master_key_id, data_keys.c.wrapped).where(
                    data_keys.c.key_ref.in_(ordered[start : start + _CHUNK])
                )
            )
            keys.update({ref: self.keyring.unwrap(key_id, wrapped, ref) for ref, key_id, wrapped in rows})
        return keys

    def school_keys(self, conn: Connection, school_urn: str) -> dict[str, bytes]:
        rows = conn.execute(
            select(data_keys.c.key_ref, data_keys.c.master_key_id, data_keys.c.wrapped).where(
                data_keys.c.school_urn == school_urn
            )
        )
        return {ref: self.keyring.unwrap(key_id, wrapped, ref) for ref, key_id, wrapped in rows}

    def destroy(self, conn: Connection, refs: Iterable[str]) -> int:
        """Delete data keys: whatever they sealed can never be read again, wherever it is copied."""
        ordered = sorted(set(refs))
        return sum(
            conn.execute(delete(data_keys).where(data_keys.c.key_ref.in_(ordered[i : i + _CHUNK]))).rowcount
            for i in range(0, len(ordered), _CHUNK)
        )


_vaults: dict[tuple[str, frozenset[str]], Vault] = {}
_lock = threading.Lock()


def open_vault(engine: Engine, keyring: Keyring) -> Vault:
    """The vault of this warehouse under these master keys (checked once per process)."""
    cache_key = (
        engine.url.render_as_string(hide_password=True),
        keyring.key_ids | {"current:" + keyring.current.key_id},
    )
    with _lock:
        vault = _vaults.get(cache_key)
        if vault is None:
            vault = _open(engine, keyring)
            _vaults[cache_key] = vault
    return vault


def forget_vaults() -> None:
    with _lock:
        _vaults.clear()


def _open(engine: Engine, keyring: Keyring) -> Vault:
    with engine.begin() as conn:
        check_master_keys(conn, keyring)
        secret = _pseudonym_secret(conn, keyring)
    return Vault(engine.url.render_as_string(hide_password=True), keyring, Pseudonymiser(secret))


def active_master_key_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(master_keys.c.key_id).where(master_keys.c.retired_at.is_(None))).scalars())


def check_master_keys(conn: Connection, keyring: Keyring) -> None:
    """Refuse a keyring that lacks a master key the warehouse still uses; then note the current key."""
    unknown = active_master_key_ids(conn) - keyring.key_ids
    if unknown:
        raise WrongMasterKeyError(
            f"MIS_MASTER_KEY (key id {keyring.current.key_id}) is not this warehouse's master key "
            f"(its data keys are wrapped by {', '.join(sorted(unknown))}); nothing was changed. During a "
            "rotation, list the old key in MIS_PREVIOUS_MASTER_KEYS"
        )
    known = conn.execute(
        select(master_keys.c.key_id).where(master_keys.c.key_id == keyring.current.key_id)
    ).first()
    if known is None:
        conn.execute(
            insert(master_keys).values(key_id=keyring.current.key_id, first_used_at=datetime.now(UTC))
        )
    else:
        conn.execute(
            update(master_keys).where(master_keys.c.key_id == keyring.current.key_id).values(retired_at=None)
        )


def _pseudonym_secret(conn: Connection, keyring: Keyring) -> bytes:
    row = conn.execute(
        select(vault_secrets.c.master_key_id, vault_secrets.c.wrapped).where(
            vault_secrets.c.name == PSEUDONYM_SECRET
        )
    ).first()
    if row is not None:
        return keyring.unwrap(row.master_key_id, row.wrapped, PSEUDONYM_SECRET)
    secret = generate_key()
    key_id, wrapped = keyring.wrap(secret, PSEUDONYM_SECRET)
    conn.execute(
        insert(vault_secrets).values(
            name=PSEUDONYM_SECRET, master_key_id=key_id, wrapped=wrapped, created_at=datetime.now(UTC)
        )
    )
    return secret


@dataclass(frozen=True)
class Rotation:
    rewrapped: int
    retired: tuple[str, ...]
    current: str


def rotate(engine: Engine, keyring: Keyring, batch_size: int = 1000, actor: str = "cli") -> Rotation:
    """Re-wrap every data key and secret under the current master key, a batch per transaction.

    Syncs keep running meanwhile: every key unwraps under the current or a previous master key
    until it is re-wrapped, and a crash part-way only leaves some keys to re-wrap on the next run.
    Master keys left with nothing wrapped are marked retired, after which they are no longer needed.
    """
    open_vault(engine, keyring)  # refuses a keyring that cannot unwrap what is held
    current = keyring.current.key_id
    rewrapped = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(data_keys.c.key_ref, data_keys.c.master_key_id, data_keys.c.wrapped)
                .where(data_keys.c.master_key_id != current)
                .limit(batch_size)
            ).all()
            for ref, key_id, wrapped in rows:
                _, new = keyring.wrap(keyring.unwrap(key_id, wrapped, ref), ref)
                conn.execute(
                    update(data_keys)
                    .where(and_(data_keys.c.key_ref == ref, data_keys.c.master_key_id == key_id))
                    .values(master_key_id=current, wrapped=new)
                )
        rewrapped += len(rows)
        if len(rows) < batch_size:
            break
    with engine.begin() as conn:
        _rewrap_secrets(conn, keyring)
        still_used = set(conn.execute(select(data_keys.c.master_key_id).distinct()).scalars()) | {current}
        retired = sorted(active_master_key_ids(conn) - still_used)
        if retired:
            conn.execute(
                update(master_keys)
                .where(master_keys.c.key_id.in_(retired))
                .values(retired_at=datetime.now(UTC))
            )
        record_audit(
            conn,
            "keys_rotated",
            {"data_keys_rewrapped": rewrapped, "master_key": current, "retired_master_keys": retired},
            actor=actor,
        )
    return Rotation(rewrapped, tuple(retired), current)


def _rewrap_secrets(conn: Connection, keyring: Keyring) -> None:
    current = keyring.current.key_id
    for name, key_id, wrapped in conn.execute(
        select(vault_secrets.c.name, vault_secrets.c.master_key_id, vault_secrets.c.wrapped).where(
            vault_secrets.c.master_key_id != current
        )
    ).all():
        _, new = keyring.wrap(keyring.unwrap(key_id, wrapped, name), name)
        conn.execute(
            update(vault_secrets)
            .where(vault_secrets.c.name == name)
            .values(master_key_id=current, wrapped=new)
        )


def key_census(engine: Engine) -> dict:
    """For `keys status`: data keys per master key id, and which master keys are active or retired."""
    with engine.connect() as conn:
        per_key = dict(
            conn.execute(
                select(data_keys.c.master_key_id, func.count()).group_by(data_keys.c.master_key_id)
            ).all()
        )
        masters = conn.execute(select(master_keys).order_by(master_keys.c.first_used_at)).mappings().all()
    return {
        "master_keys": [
            {
                "key_id": m["key_id"],
                "active": m["retired_at"] is None,
                "data_keys": per_key.get(m["key_id"], 0),
            }
            for m in masters
        ]
    }
