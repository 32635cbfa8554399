"""What a sync changes about a school's pupils: new, changed (which fields), left, deleted,
restored. Pure: no Dagster, no database.

A pupil is the same pupil while its internal key is the same, and that key comes from the MIS's
own id, so a temporary UPN replaced by a permanent one, or a re-enrolment under a new connector id
with the same MIS record, is a change of fields, never a new pupil. Field names are reported;
values never are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CHANGE_KINDS = ("new", "changed", "left", "deleted", "restored")
# Bookkeeping that moves without the pupil changing, and what identifies the row itself.
_NOT_COMPARED = frozenset({"pupil_key", "school_urn", "source_updated_at"})


@dataclass(frozen=True, order=True)
class PupilChange:
    pupil_key: str
    kind: str  # one of CHANGE_KINDS
    fields: tuple[str, ...] = ()  # for changed, left and restored: the fields whose values moved


def changed_fields(before: Mapping, after: Mapping) -> tuple[str, ...]:
    return tuple(
        sorted(name for name in after if name not in _NOT_COMPARED and before.get(name) != after.get(name))
    )


def pupil_changes(
    held: Mapping[str, Mapping],
    held_deleted: set[str],
    incoming: Iterable[Mapping],
    deleted: set[str],
    restored: set[str],
) -> list[PupilChange]:
    """The change set of one sync of one school's core records.

    `held`: the held pupils this sync touches (by pupil key), as they were; `held_deleted`: those of
    them marked deleted at the connector; `incoming`: the records received; `deleted` / `restored`:
    pupil keys the connector reports deleted (or absent from a full read) and deletions undone.
    """
    changes: list[PupilChange] = []
    arrived = set()
    for record in incoming:
        key = record["pupil_key"]
        arrived.add(key)
        before = held.get(key)
        if before is None:
            changes.append(PupilChange(key, "new"))
            continue
        fields = changed_fields(before, record)
        if key in held_deleted:
            changes.append(PupilChange(key, "restored", fields))
        elif "leaving_date" in fields and before.get("leaving_date") is None:
            changes.append(PupilChange(key, "left", fields))
        elif fields:
            changes.append(PupilChange(key, "changed", fields))
    for key in sorted(restored - arrived):
        if key in held_deleted:
            changes.append(PupilChange(key, "restored"))
    for key in sorted(deleted - arrived - restored):
        if key in held and key not in held_deleted:
            changes.append(PupilChange(key, "deleted"))
    return sorted(changes)


def change_counts(changes: Iterable[PupilChange]) -> dict[str, int]:
    counted = Counter(change.kind for change in changes)
    return {kind: counted.get(kind, 0) for kind in CHANGE_KINDS}
