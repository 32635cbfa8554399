"""The audit trail rendered for people: JSON and CSV for auditors' tools, a PDF a school's data
protection officer can read (what was received, shared, purged, and when). Counts only: the audit
log holds nothing that names a pupil, so neither does any rendering of it."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime, timezone

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from data_contracts import CHANGE_KINDS
from mis_pipeline.lib.dates import iso_utc

CSV_COLUMNS = ("id", "occurred_at", "school_urn", "action", "actor", "run_id", "detail")
SECTIONS = (
    ("What we received", ("change_set_applied",)),
    ("What we shared", ("share_made",)),
    ("What we deleted or un-named", ("purge", "items_removed")),
    ("Settings and consent", ("settings_changed",)),
    ("Subject access reports", ("subject_access_report",)),
    ("Encryption keys", ("keys_rotated",)),
)


def as_json(entries: list[dict]) -> str:
    return json.dumps({"entries": [_plain(e) for e in entries]}, indent=1, default=str)


def as_csv(entries: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        row = _plain(entry)
        writer.writerow({**{k: row.get(k) for k in CSV_COLUMNS}, "detail": json.dumps(row["detail"], sort_keys=True)})
    return out.getvalue()


def _plain(entry: dict) -> dict:
    return {**{k: entry[k] for k in CSV_COLUMNS if k != "occurred_at"}, "occurred_at": iso_utc(entry["occurred_at"])}


def _rows_removed(detail: dict) -> str:
    return ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in detail.get("rows_removed", {}).items())


def _describe(entry: dict) -> str:
    """One readable line per entry, from counts and names only."""
    d, action = entry["detail"], entry["action"]
    if action == "change_set_applied":
        counts = d.get("pupils", {})
        pupils = ", ".join(f"{counts[kind]} {kind}" for kind in CHANGE_KINDS if counts.get(kind)) or "no pupil changes"
        items = ", ".join(f"{name.replace('_', ' ')}: {c['inserted']} added, {c['updated']} updated, {c['deleted']} removed"
                          for name, c in d.get("items", {}).items())
        return f"Pupils: {pupils}." + (f" {items}." if items else "")
    if action == "purge":
        if d.get("kind") == "named":
            rules = ", ".join(f"{n} because {rule.replace('_', ' ')}" for rule, n in d.get("by_rule", {}).items())
            return (f"Named data of {d['pupils']} pupils removed ({rules}), due by {d['as_of']}; un-named figures "
                    "kept for up to 5 years.")
        if d.get("kind") == "unnamed":
            return (f"{d.get('unnamed_records', 0)} un-named records and {d.get('change_sets', 0)} change sets "
                    "deleted after 5 years.")
        if d.get("kind") == "unlinked":
            return f"Rows no longer linked to any pupil held removed ({_rows_removed(d)})."
        if d.get("kind") == "unattributed_quarantine":
            return (f"{d.get('quarantined_records_removed', 0)} held-back records naming no pupil removed 6 months "
                    "after they were held back.")
        return f"Remaining records of an ended subscription removed ({d.get('quarantined_records_removed', 0)})."
    if action == "items_removed":
        return f"Data items no longer authorised removed ({_rows_removed(d)})."
    if action == "settings_changed":
        return "; ".join(f"{name.replace('_', ' ')}: {v['before']} -> {v['after']}" for name, v in d.items())
    if action == "share_made":
        return f"Shared with {d.get('partner')}: " + ", ".join(f"{k} {v}" for k, v in d.get("counts", {}).items())
    if action == "subject_access_report":
        outcome = "found and reported" if d.get("found") else "nothing named held"
        return f"Subject access report ({d.get('format')}): {outcome}."
    if action == "keys_rotated":
        return f"{d.get('data_keys_rewrapped')} data keys re-wrapped under master key {d.get('master_key')}."
    return json.dumps(d, sort_keys=True)


def as_pdf(entries: list[dict], title: str, subtitle: str) -> bytes:
    """A readable report: a summary, then each section's entries as a dated table."""
    styles = getSampleStyleSheet()
    body, cell = styles["BodyText"], styles["BodyText"].clone("cell", fontSize=8, leading=10)
    story = [Paragraph(title, styles["Title"]), Paragraph(subtitle, body),
             Paragraph(f"Produced {datetime.now(timezone.utc):%d %B %Y %H:%M} UTC from the audit log "
                       f"({len(entries)} entries). It records counts only and names no pupil.", body),
             Spacer(1, 4 * mm)]
    counts = Counter(e["action"] for e in entries)
    summary = [["Section", "Entries"]] + [[name, str(sum(counts[a] for a in actions))] for name, actions in SECTIONS]
    story += [Paragraph("Summary", styles["Heading2"]), _table(summary, [120 * mm, 30 * mm]), Spacer(1, 4 * mm)]
    for name, actions in SECTIONS:
        rows = [e for e in entries if e["action"] in actions]
        story.append(Paragraph(name, styles["Heading2"]))
        if not rows:
            story.append(Paragraph("Nothing recorded.", body))
            continue
        table = [["When (UTC)", "School", "What"]] + [
            [Paragraph(iso_utc(e["occurred_at"])[:16].replace("T", " "), cell), e["school_urn"] or "all",
             Paragraph(_describe(e), cell)] for e in rows]
        story.append(_table(table, [32 * mm, 18 * mm, 120 * mm]))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=title, leftMargin=15 * mm, rightMargin=15 * mm).build(story)
    return buffer.getvalue()


def _table(rows: list[list], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"), ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
    ]))
    return table
