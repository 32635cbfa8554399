"""Counts for Dagster metadata and logs, per school. Only URNs, dataset names and numbers: never a pupil value."""

from __future__ import annotations

from mis_pipeline.sync.runner import SchoolOutcome
from mis_pipeline.warehouse.changes import CHANGE_KINDS
from mis_pipeline.warehouse.school_store import SyncCounts


def outcome_summary(outcome: SchoolOutcome) -> str:
    if outcome.status != "synced":
        return f"school {outcome.urn}: {outcome.status} ({outcome.reason})"
    parts = [
        f"{d} {c.fetched} fetched/{c.inserted} new/{c.updated} updated/{c.quarantined} quarantined"
        for d, c in sorted(outcome.counts.items())
    ]
    if outcome.change_set_status == "pending":
        return f"school {outcome.urn}: manual school, {outcome.mode} sync; changes {PENDING}: " + "; ".join(
            parts
        )
    refused = f"; not authorised: {', '.join(outcome.not_authorised)}" if outcome.not_authorised else ""
    removed = f"; removed (out of scope): {', '.join(outcome.withdrawn)}" if outcome.withdrawn else ""
    return f"school {outcome.urn}: {outcome.mode} sync; " + "; ".join(parts) + refused + removed


def changed(outcome: SchoolOutcome) -> bool:
    """Whether the school's sync changed anything held: rows written or removed, or records
    quarantined. Re-reading what is already held (XoD's whole-item reads) changes nothing, and
    neither does a manual school's preview (its change set waits)."""
    if outcome.status != "synced":
        return False
    if outcome.withdrawn:
        return True
    return outcome.change_set_status != "pending" and any(
        c.inserted or c.updated or c.deleted or c.quarantined for c in outcome.counts.values()
    )


# ── per school partition ─────────────────────────────────────────────────────────────────────
# A school partition's events carry that school's own figures, never the run's totals.
TABLE_FIGURES = ("fetched", "inserted", "updated", "unchanged", "deleted", "quarantined")
PENDING = "pending, not applied"
REMOVED = "removed: no longer in the school's scope"


def _table_changed(counts: SyncCounts) -> bool:
    return bool(counts.inserted or counts.updated or counts.deleted or counts.quarantined)


def _figures(counts: SyncCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in TABLE_FIGURES}


def school_table_metadata(outcome: SchoolOutcome, held: dict[str, int]) -> dict[str, dict]:
    """Per table written for the school by this sync: its own figures and what it holds now
    (`held`, as `status` reports it). A table is reported when the sync changed it or read it whole
    (first contact); an item the school never granted or withholds is never in `outcome.counts`
    (one withheld since the last sync is reported once, as removed, held 0), and a manual school's
    preview wrote nothing, so nothing is reported for it."""
    if outcome.status != "synced" or outcome.change_set_status == "pending":
        return {}
    written = {
        dataset: {**_figures(counts), "held": held.get(dataset, 0), "dagster/row_count": held.get(dataset, 0)}
        for dataset, counts in outcome.counts.items()
        if dataset not in outcome.withdrawn and (_table_changed(counts) or outcome.mode == "full")
    }
    # An item the school stopped allowing: its rows were deleted, and the partition says so (Dagster
    # 1.13's SQL storages cannot wipe one partition, so its latest event is this one).
    removed = {
        dataset: {"status": REMOVED, "held": 0, "dagster/row_count": 0} for dataset in outcome.withdrawn
    }
    return dict(sorted({**written, **removed}.items()))


def school_pending_metadata(outcome: SchoolOutcome) -> dict | None:
    """A manual school's change set held for review: what it would change, marked as not applied."""
    if outcome.status != "synced" or outcome.change_set_status != "pending" or not outcome.change_set:
        return None
    rows = {
        f"{dataset}_{name}": value
        for dataset, counts in sorted(outcome.counts.items())
        for name, value in _figures(counts).items()
        if name != "unchanged" and value
    }
    return {"status": PENDING, **_pupil_kinds(outcome.change_set), **rows}


def school_change_set_metadata(outcome: SchoolOutcome) -> dict | None:
    """An applied change set: pupils per kind of change."""
    if outcome.change_set_status != "applied" or not outcome.change_set:
        return None
    return {"status": "applied", **_pupil_kinds(outcome.change_set)}


def _pupil_kinds(change_set: dict) -> dict[str, int]:
    return {f"pupils_{kind}": change_set["pupils"].get(kind, 0) for kind in CHANGE_KINDS}


def school_extract_metadata(outcome: SchoolOutcome) -> dict | None:
    """What the school's connector delivered, when the sync changed anything (or computed a pending
    change set); a sync with nothing new re-materialises nothing."""
    if not (changed(outcome) or outcome.change_set):
        return None
    fetched = {f"fetched_{dataset}": counts.fetched for dataset, counts in sorted(outcome.counts.items())}
    return {
        "mode": outcome.mode or "",
        "records_fetched": sum(fetched.values()),
        **fetched,
        "items_not_authorised": ", ".join(outcome.not_authorised) or "none",
        "items_removed_out_of_scope": ", ".join(outcome.withdrawn) or "none",
    }
