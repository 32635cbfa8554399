"""One rule for a pupil whose core record is in quarantine, whichever connector and read. Pure.

Their other items (details, attendance, results, group memberships) are quarantined with them
(`HELD_BACK`, sealed under the pupil's key) rather than held as live data with no pupil, and land
together when the core record arrives fixed: the sync then releases them from quarantine (a delta
would not re-send them). A group containing such a pupil lands for its other members; only that
membership waits. An item of a pupil the school has never sent is quarantined as `NOT_A_PUPIL`.

A membership is current only for a pupil on roll: a leaver's or a deleted pupil's is dropped,
whatever the connector's group says.

A pupil already held whose new version is quarantined stays held (their last good record), and
so do their items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from data_contracts import CONTRACTS, Rejection, split_valid
from mis_pipeline.warehouse.school_store import DatasetSync

HELD_BACK = "pupil: not held (core record quarantined)"
NOT_A_PUPIL = "pupil: not held (not one of the school's pupils)"


@dataclasses.dataclass(frozen=True)
class Standing:
    """Where each pupil of the school stands once this sync's core record is written."""

    on_roll: frozenset[str]
    off_roll: frozenset[str]  # left, or deleted at the connector
    quarantined: frozenset[str]  # core record in quarantine and not held

    @property
    def held(self) -> frozenset[str]:
        return self.on_roll | self.off_roll


def standing_after(
    core: DatasetSync | None, on_roll: frozenset[str], off_roll: frozenset[str], quarantined: frozenset[str]
) -> Standing:
    """The standing after `core` is written over what is held (`on_roll`, `off_roll`) and what
    waits in quarantine (`quarantined`: pupil keys)."""
    on, off, waiting = set(on_roll), set(off_roll), set(quarantined)
    if core is not None:
        if core.mode == "full":  # what a full read lacks is gone: deleted at the connector
            present = {record["pupil_key"] for record in core.good}
            off |= on - present
            on &= present
            waiting = set()
        for record in core.good:
            key = record["pupil_key"]
            (off if record.get("leaving_date") else on).add(key)
            (on if record.get("leaving_date") else off).discard(key)
            waiting.discard(key)
        off |= set(core.deleted_keys) & (on | off)
        on -= set(core.deleted_keys)
        waiting |= {r.record["pupil_key"] for r in core.rejected if r.record.get("pupil_key")}
    return Standing(frozenset(on), frozenset(off), frozenset(waiting - on - off))


def hold_back(sync: DatasetSync, standing: Standing, released: list[dict] = ()) -> DatasetSync:
    """`sync` with its records of pupils not held moved to quarantine, leavers' memberships
    dropped, and `released` (items held back with pupils now held) landing with it."""
    if sync.dataset == "pupils":
        return sync
    good, rejected = [], list(sync.rejected)
    arriving = {_key(sync.dataset, record) for record in sync.good}
    valid_released, broken = split_valid(CONTRACTS[sync.dataset], list(released))
    rejected.extend(broken)
    for record in [r for r in valid_released if _key(sync.dataset, r) not in arriving] + list(sync.good):
        pupil = record["pupil_key"]
        if pupil in standing.held:
            if not (sync.dataset == "pupil_groups" and pupil in standing.off_roll):
                good.append(record)
        else:
            rejected.append(Rejection(record, HELD_BACK if pupil in standing.quarantined else NOT_A_PUPIL))
    return dataclasses.replace(sync, good=good, rejected=rejected)


def _key(dataset: str, record: Mapping) -> tuple:
    return tuple(record.get(k) for k in CONTRACTS[dataset].key)


def release_and_hold_back(
    syncs: list[DatasetSync],
    on_roll: frozenset[str],
    off_roll: frozenset[str],
    quarantined: frozenset[str],
    released: Mapping[str, list[dict]],
) -> list[DatasetSync]:
    """Every sync of one school with the rule applied; `released` holds, by dataset, the items
    held back with pupils whose core record arrives good in this sync."""
    core = next((s for s in syncs if s.dataset == "pupils"), None)
    standing = standing_after(core, on_roll, off_roll, quarantined)
    return [hold_back(sync, standing, released.get(sync.dataset, [])) for sync in syncs]


def arriving_pupils(syncs: list[DatasetSync]) -> set[str]:
    """Pupil keys whose core record arrives good in this sync (their held-back items can land)."""
    return {record["pupil_key"] for s in syncs if s.dataset == "pupils" for record in s.good}
