"""The audit trail rendered for people: JSON and CSV for auditors' tools, a PDF a school's data
protection officer can read (a one-page summary, then what was received, shared, deleted, changed,
reported and re-keyed, with who acted). Counts only: the audit log holds nothing that names a pupil,
so neither does any rendering of it.

Every rendering is built from the same `Event` rows (`events()`), so JSON, CSV and PDF state the
same facts; the fields are documented in the README ("Audit report fields").
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Engine, select

from mis_pipeline.audit.wording import Names, count, describe
from mis_pipeline.lib.codes import ITEMS, PARTNER_KINDS
from mis_pipeline.lib.dates import iso_utc, uk_day, uk_time
from mis_pipeline.lib.pdf import numbered_canvas, section
from mis_pipeline.registry.names import partner_name, school_names
from mis_pipeline.warehouse.schema import gias_establishments

SECTIONS = (
    ("received", "What we received", ("change_set_applied", "sync")),
    ("shared", "What we shared, and with whom", ("share_made",)),
    ("deleted", "What we deleted or un-named", ("purge", "items_removed")),
    ("settings", "Settings and consent", ("settings_changed",)),
    ("subject_access", "Subject access reports", ("subject_access_report",)),
    ("keys", "Encryption keys", ("keys_rotated",)),
)
SECTION_OF = {action: key for key, _, actions in SECTIONS for action in actions}
FIELDS = (
    "id",
    "occurred_at",
    "occurred_at_uk",
    "section",
    "action",
    "school_urn",
    "school_name",
    "partner",
    "partner_name",
    "pupils",
    "actor",
    "run_id",
    "description",
    "detail",
)


@dataclass(frozen=True)
class Event:
    """One audit entry as every rendering states it (see FIELDS; README "Audit report fields")."""

    id: int
    occurred_at: str  # ISO 8601, UTC
    occurred_at_uk: str  # "5 December 2026, 14:03 GMT"
    section: str  # received, shared, deleted, settings, subject_access, keys
    action: str  # as stored (data_contracts.AUDIT_ACTIONS)
    school_urn: str | None  # the school concerned; none for an entry about several schools or none
    school_name: str | None
    partner: str | None  # a share's partner key: la-<code>, trust-<UID>, diocese-<code>
    partner_name: str | None  # "Local authority: Doncaster"
    pupils: int | None  # pupils concerned (received, shared, un-named), where the entry counts them
    actor: str  # who acted: an operator's name, "schedule …", "sensor …"
    run_id: str | None
    description: str  # the entry in plain English
    detail: dict  # the entry's stored detail, unchanged


def load_names(engine: Engine, entries: list[dict]) -> Names:
    """School names for every URN, partner names for every partner the entries mention."""
    with engine.connect() as conn:
        partners = {e["detail"]["partner"] for e in entries if e["action"] == "share_made"}
        return Names(school_names(conn), {key: partner_name(conn, key) for key in sorted(partners)})


def events(entries: list[dict], names: Names, school_urn: str | None = None) -> list[Event]:
    """The entries as events; `school_urn` says whose report it is (a share then counts its pupils)."""
    return [_event(entry, names, school_urn) for entry in entries]


def _event(entry: dict, names: Names, school_urn: str | None) -> Event:
    detail, action = entry["detail"], entry["action"]
    partner = detail.get("partner") if action == "share_made" else None
    urn = entry["school_urn"] or (school_urn if action == "share_made" else None)
    return Event(
        id=entry["id"],
        occurred_at=iso_utc(entry["occurred_at"]),
        occurred_at_uk=uk_time(entry["occurred_at"]),
        section=SECTION_OF.get(action, "other"),
        action=action,
        school_urn=urn,
        school_name=names.school(urn),
        partner=partner,
        partner_name=names.partners.get(partner) if partner else None,
        pupils=_pupils(action, detail, school_urn),
        actor=entry["actor"],
        run_id=entry["run_id"],
        description=describe(entry, names, school_urn),
        detail=detail,
    )


def _pupils(action: str, detail: dict, school_urn: str | None) -> int | None:
    if action == "change_set_applied":
        return sum(detail.get("pupils", {}).values())
    if action == "share_made":
        by_school = detail.get("pupils_by_school")
        if school_urn is not None:
            return by_school.get(school_urn) if by_school else None
        return detail.get("counts", {}).get("pupils")
    if action == "purge" and detail.get("kind") == "named":
        return detail.get("pupils")
    return None


# ── JSON and CSV ──────────────────────────────────────────────────────────────────────────────
def as_json(rows: list[Event], about: dict | None = None) -> str:
    return json.dumps(
        {"report": about or {}, "entries": [asdict(e) for e in rows]}, indent=1, ensure_ascii=False
    )


def as_csv(rows: list[Event]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in rows:
        row = asdict(event)
        writer.writerow(
            {
                **{k: "" if row[k] is None else row[k] for k in FIELDS},
                "detail": json.dumps(row["detail"], sort_keys=True),
            }
        )
    return out.getvalue()


# ── the school's links, for the summary ───────────────────────────────────────────────────────
def school_links(engine: Engine, urn: str) -> list[tuple[str, str]]:
    """The school's partners as GIAS names them: [(label, "name (code)")]."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(gias_establishments).where(gias_establishments.c.urn == urn))
            .mappings()
            .first()
        )
    if row is None:
        return [("Partners", "no GIAS record imported for this school")]
    links = [(PARTNER_KINDS["la"], f"{row['la_name'] or 'name not in GIAS'} (code {row['la_code']})")]
    if row["trust_uid"]:
        links.append(
            (PARTNER_KINDS["trust"], f"{row['trust_name'] or 'name not in GIAS'} (UID {row['trust_uid']})")
        )
    if row["diocese_code"] and row["diocese_code"] != "0000":
        links.append(
            (
                PARTNER_KINDS["diocese"],
                f"{row['diocese_name'] or 'name not in GIAS'} (code {row['diocese_code']})",
            )
        )
    return links


def school_choices(school) -> list[tuple[str, str]]:
    """A registered school's own choices today, in words, for the summary page."""
    accepted = (
        f"{uk_day(school.agreement_accepted_on)}"
        + (f" (version {school.agreement_version})" if school.agreement_version else "")
        if school.agreement_accepted_on
        else "not yet"
    )
    return [
        ("Data items withheld", ", ".join(ITEMS.get(i, i) for i in school.withheld_items) or "none"),
        ("Sharing switched off", ", ".join(PARTNER_KINDS.get(k, k) for k in school.sharing_off) or "none"),
        ("Collection", f"{school.sync_mode} sync" + ("; paused (not contacted)" if school.paused else "")),
        ("Agreement accepted", accepted),
        ("Subscription ends", uk_day(school.subscription_end) if school.subscription_end else "not set"),
    ]


# ── PDF ───────────────────────────────────────────────────────────────────────────────────────
class _Styles:
    def __init__(self) -> None:
        base = getSampleStyleSheet()
        self.title, self.heading, self.body = base["Title"], base["Heading2"], base["BodyText"]
        self.cell = base["BodyText"].clone("audit-cell", fontSize=8, leading=10)
        self.head = base["BodyText"].clone("audit-head", fontSize=8, leading=10, fontName="Helvetica-Bold")


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[str]], widths: list[float], styles: _Styles, header: bool = True) -> Table:
    cells = [
        [_p(str(text), styles.head if header and r == 0 else styles.cell) for text in row]
        for r, row in enumerate(rows)
    ]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]
    commands.append(("BACKGROUND", (0, 0), (-1, 0) if header else (0, -1), colors.HexColor("#dde4ee")))
    table.setStyle(TableStyle(commands))
    return table


def _summary_line(key: str, rows: list[Event]) -> str:
    """The section's totals in a phrase, for the summary page."""
    if not rows:
        return "nothing recorded"
    if key == "received":
        return f"{count(len(rows), 'update')}, {count(sum(e.pupils or 0 for e in rows), 'pupil change')}"
    if key == "shared":
        partners = Counter(e.partner_name or e.partner for e in rows)
        return "; ".join(f"{name}: {count(n, 'share')}" for name, n in partners.items())
    if key == "deleted":
        named = sum(e.pupils or 0 for e in rows if e.action == "purge")
        return f"{count(len(rows), 'entry', 'entries')}; names removed for {count(named, 'pupil')}"
    return count(len(rows), "entry", "entries")


def as_pdf(
    rows: list[Event], title: str, facts: list[tuple[str, str]], produced: datetime, per_school: bool
) -> bytes:
    """Page 1: who the report is about, its partners, and each section's totals. Then each section
    as a dated table: when (UK time), what, who acted."""
    styles = _Styles()
    by_section = {key: [e for e in rows if e.section == key] for key, _, _ in SECTIONS}
    period = f"{rows[0].occurred_at_uk} to {rows[-1].occurred_at_uk}" if rows else "no entries yet"
    facts = [
        *facts,
        ("Period covered", period),
        ("Produced", uk_time(produced)),
        ("Entries", f"{len(rows)}; counts only, no pupil is named"),
    ]
    summary = [["Section", "Entries", "In short"]] + [
        [name, str(len(by_section[key])), _summary_line(key, by_section[key])] for key, name, _ in SECTIONS
    ]
    story = [
        _p(title, styles.title),
        _table([list(f) for f in facts], [40 * mm, 140 * mm], styles, header=False),
        Spacer(1, 5 * mm),
        _p("Summary", styles.heading),
        _table(summary, [55 * mm, 18 * mm, 107 * mm], styles),
        Spacer(1, 4 * mm),
        _p(
            'Times are UK time (GMT or BST, as named). "Who" is the person who ran the command, or the '
            "schedule or sensor that started the run.",
            styles.body,
        ),
        PageBreak(),
    ]
    for key, name, _ in SECTIONS:
        found = by_section[key]
        if not found:
            story += section(_p(name, styles.heading), [_p("Nothing recorded.", styles.body)], room=25 * mm)
            continue
        school = [] if per_school else ["School"]
        header = ["When (UK time)", *school, "What", "Who"]
        widths = [
            34 * mm,
            *([30 * mm] if not per_school else []),
            (104 if not per_school else 116) * mm,
            30 * mm,
        ]
        table = [header] + [
            [e.occurred_at_uk, *([_school_cell(e)] if not per_school else []), e.description, e.actor]
            for e in found
        ]
        story += section(_p(name, styles.heading), [_table(table, widths, styles)])
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author="",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
    ).build(story, canvasmaker=numbered_canvas(f"{title}. Audit log: counts only, no pupil named"))
    return buffer.getvalue()


def _school_cell(event: Event) -> str:
    if event.school_urn:
        return f"{event.school_name or 'school'} ({event.school_urn})"
    schools = event.detail.get("schools") if event.action == "share_made" else None
    return count(len(schools), "school") if schools else "all schools"
