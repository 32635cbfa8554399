"""Purges after a backup is restored.

A purge destroys a pupil's data key, but a backup taken before it still holds that key (wrapped by
the master key): restoring it brings the pupil back, readable. So each purge's audit entry records
a digest of every data key it destroyed, grouped by rule. The digest is of the key itself: the
live warehouse no longer has the key, so nothing there can be matched with it; only a restored copy
that still holds the key can. Replaying finds those keys in the restored warehouse and purges their
pupils again, as the original purge did (un-named record, every pupil-linked row, the key).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select

from mis_pipeline.retention.due import DueSubject, school_facts
from mis_pipeline.retention.rules import Due
from mis_pipeline.retention.store import purge_subjects
from mis_pipeline.retention.tombstones import Tombstone, key_digest, tombstones_since
from mis_pipeline.warehouse.schema import data_keys, pupils
from mis_pipeline.warehouse.vault import Vault

_BATCH = 5000


def _matching_keys(engine: Engine, vault: Vault, wanted: dict[str, Tombstone]) -> dict[str, Tombstone]:
    """Pupil keys whose data key is one a purge destroyed: every held key is opened and compared
    (a restore is rare; this reads the key table once, a batch at a time)."""
    matched: dict[str, Tombstone] = {}
    after = ""
    while True:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    select(data_keys.c.key_ref)
                    .where(data_keys.c.key_ref > after)
                    .order_by(data_keys.c.key_ref)
                    .limit(_BATCH)
                )
                .scalars()
                .all()
            )
            keys = vault.existing_keys(conn, rows)
        matched.update(
            {ref: wanted[digest] for ref, key in keys.items() if (digest := key_digest(key)) in wanted}
        )
        if len(rows) < _BATCH:
            return matched
        after = rows[-1]


@dataclass(frozen=True)
class ReplayReport:
    tombstones: int  # data keys destroyed since the backup, per the audit entries
    pupils: int  # of them, still held in the restored warehouse and purged again
    by_rule: dict[str, int]


def replay_after_restore(
    engine: Engine,
    vault: Vault,
    entries: Iterable[dict],
    since: datetime,
    actor: str,
    run_id: str | None = None,
) -> ReplayReport:
    """Re-apply, in the restored warehouse, every purge recorded at or after `since` (the backup's
    time): each pupil whose destroyed key is back is purged again, a school per transaction."""
    wanted = tombstones_since(entries, since)
    matched = _matching_keys(engine, vault, wanted)
    by_school: dict[tuple[str, date], list[str]] = defaultdict(list)
    for ref, stone in matched.items():
        by_school[stone.school_urn, stone.as_of].append(ref)
    for (urn, as_of), refs in sorted(by_school.items()):
        with engine.begin() as conn:
            named = set(
                conn.execute(select(pupils.c.pupil_key).where(pupils.c.pupil_key.in_(refs))).scalars()
            )
            observed = school_facts(conn, as_of).get(urn)
            due = [
                DueSubject(
                    ref,
                    urn,
                    Due(matched[ref].rule, as_of, as_of),
                    ref in named,
                    observed.observed_on if observed else as_of,
                )
                for ref in sorted(refs)
            ]
            purge_subjects(conn, vault, urn, due, as_of, actor, run_id, replayed=True)
    return ReplayReport(
        len(wanted), len(matched), dict(sorted(Counter(s.rule for s in matched.values()).items()))
    )
