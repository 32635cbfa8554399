"""Counts for Dagster metadata and logs. Only URNs, modes and numbers: never a pupil value."""

from __future__ import annotations

from collections import Counter

from .runner import SchoolOutcome


def outcome_summary(outcome: SchoolOutcome) -> str:
    if outcome.counts is None:
        return f"school {outcome.urn}: {outcome.status} ({outcome.reason})"
    c = outcome.counts
    return (f"school {outcome.urn}: {outcome.mode} sync, fetched {c.fetched}, inserted {c.inserted}, "
            f"updated {c.updated}, unchanged {c.unchanged}, quarantined {c.quarantined}")


def _totals(outcomes: list[SchoolOutcome]) -> Counter:
    totals: Counter = Counter()
    for outcome in outcomes:
        if outcome.counts is not None:
            totals.update(vars(outcome.counts))
    return totals


def extract_metadata(outcomes: list[SchoolOutcome]) -> dict:
    statuses = Counter(o.status for o in outcomes)
    return {
        "schools": len(outcomes),
        "schools_synced": statuses["synced"],
        "schools_failed": statuses["failed"] + statuses["refused"],
        "schools_not_authorised": statuses["not_authorised"],
        "full_syncs": sum(1 for o in outcomes if o.mode == "full"),
        "incremental_syncs": sum(1 for o in outcomes if o.mode == "incremental"),
        "records_fetched": _totals(outcomes)["fetched"],
    }


def pupils_metadata(outcomes: list[SchoolOutcome]) -> dict:
    """Run totals. Dagster copies this onto every school partition's event, so it stays small;
    each school's own counts are in the run's log lines and the warehouse's sync log."""
    totals = _totals(outcomes)
    return {
        "inserted": totals["inserted"],
        "updated": totals["updated"],
        "unchanged": totals["unchanged"],
        "quarantined": totals["quarantined"],
        "schools_in_run": len(outcomes),
    }
