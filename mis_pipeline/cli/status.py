"""Per-school status for operators: what is held, what is waiting, when it last synced."""

from __future__ import annotations

from sqlalchemy import Engine, select

from mis_pipeline.lib.dates import iso_utc, london_today
from mis_pipeline.registry.listing import school_fields, state_label
from mis_pipeline.registry.store import list_schools
from mis_pipeline.retention.store import school_facts
from mis_pipeline.warehouse.change_store import pending_change_sets
from mis_pipeline.warehouse.reader import counts_by_school
from mis_pipeline.warehouse.schema import DATASET_TABLES, pupils, quarantine, sync_state


def school_status(engine: Engine) -> list[dict]:
    """One entry per registered school, in URN order (the `status --json` document's `schools`)."""
    held = counts_by_school(engine, pupils)
    deleted = counts_by_school(engine, pupils, pupils.c.deleted_at.is_not(None))
    datasets = {name: counts_by_school(engine, table) for name, table in DATASET_TABLES.items()}
    quarantined = counts_by_school(engine, quarantine)
    pending = pending_change_sets(engine)
    with engine.connect() as conn:
        final_years = {urn: facts.final_year for urn, facts in school_facts(conn, london_today()).items()}
    with engine.connect() as conn:
        state = {
            row.school_urn: row
            for row in conn.execute(select(sync_state).where(sync_state.c.dataset == "pupils"))
        }
    entries = []
    for school in list_schools(engine):
        sync = state.get(school.urn)
        entries.append(
            {
                **school_fields(school),
                "last_sync": iso_utc(sync.last_sync_at) if sync else None,
                "cursor": sync.cursor if sync else None,
                "counts": {
                    "pupils": held.get(school.urn, 0),
                    # deleted at the connector, held until the retention purge
                    "pupils_deleted_at_connector": deleted.get(school.urn, 0),
                    **{name: counts.get(school.urn, 0) for name, counts in datasets.items()},
                    "quarantined": quarantined.get(school.urn, 0),
                    # pupils changed in the school's pending change set (manual schools)
                    "pending_changes": sum(pending[school.urn]["counts"]["pupils"].values())
                    if school.urn in pending
                    else 0,
                },
                "pending_change_set": _pending(pending.get(school.urn)),
                # None: the key-stage retention rule cannot fire for this school (set --final-year-group)
                "final_year_group": final_years.get(school.urn),
            }
        )
    return entries


def _pending(change_set: dict | None) -> dict | None:
    if change_set is None:
        return None
    return {"id": change_set["id"], "computed_at": iso_utc(change_set["created_at"]), **change_set["counts"]}


def render_table(entries: list[dict]) -> str:
    header = (
        f"{'URN':<8} {'school':<30} {'conn':<6} {'mode':<9} {'state':<12} {'pupils':>7} {'details':>7} "
        f"{'attend':>7} {'assess':>7} {'groups':>7} {'quar':>5} {'pend':>5}  last sync"
    )
    lines = [header, "-" * len(header)]
    for e in entries:
        state = state_label(e)
        c = e["counts"]
        lines.append(
            f"{e['urn']:<8} {e['name'][:30]:<30} {e['connector']:<6} {e['sync_mode']:<9} {state:<12} "
            f"{c['pupils']:>7} {c['pupil_details']:>7} {c['attendance_sessions']:>7} {c['assessment_results']:>7} "
            f"{c['pupil_groups']:>7} {c['quarantined']:>5} {c['pending_changes']:>5}  {e['last_sync'] or 'never'}"
        )
        if e["blocked_by"] and e["approval"] == "approved":
            lines.append(f"{'':<8}   not synced: {e['blocked_by']}")
        if e["final_year_group"] is None:
            lines.append(
                f"{'':<8}   final year group unknown: the key-stage retention rule cannot fire "
                f"(schools set {e['urn']} --final-year-group N)"
            )
    if not entries:
        lines.append(
            "(no schools registered yet: run `mis-pipeline schools discover`, then record each school's acceptance of the agreement with `mis-pipeline schools set URN --agreement-accepted DATE`)"
        )
    return "\n".join(lines)
