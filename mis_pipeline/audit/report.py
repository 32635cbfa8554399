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
from datetime import date, datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Engine, select

from data_contracts import CHANGE_KINDS
from mis_pipeline.lib.dates import as_utc, iso_utc, london_date, uk_day, uk_time
from mis_pipeline.reports.codes import DATASETS, ITEMS, PARTNER_KINDS, RETENTION_RULES
from mis_pipeline.reports.names import partner_name, school_names
from mis_pipeline.reports.pdf import numbered_canvas, section
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
FIELDS = ("id", "occurred_at", "occurred_at_uk", "section", "action", "school_urn", "school_name", "partner",
          "partner_name", "pupils", "actor", "run_id", "description", "detail")


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


@dataclass(frozen=True)
class Names:
    schools: dict[str, str]
    partners: dict[str, str]

    def school(self, urn: str | None) -> str | None:
        return self.schools.get(urn) if urn else None


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
        id=entry["id"], occurred_at=iso_utc(entry["occurred_at"]), occurred_at_uk=uk_time(entry["occurred_at"]),
        section=SECTION_OF.get(action, "other"), action=action, school_urn=urn, school_name=names.school(urn),
        partner=partner, partner_name=names.partners.get(partner) if partner else None,
        pupils=_pupils(action, detail, school_urn), actor=entry["actor"], run_id=entry["run_id"],
        description=describe(entry, names, school_urn), detail=detail)


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


# ── plain English ─────────────────────────────────────────────────────────────────────────────
def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _day(text: str | None) -> str:
    return uk_day(date.fromisoformat(text)) if text else "not set"


def _item(name: str) -> str:
    return ITEMS.get(name) or DATASETS.get(name) or name.replace("_", " ").capitalize()


def describe(entry: dict, names: Names, school_urn: str | None = None) -> str:
    """One entry in plain English, from counts and names only."""
    d, action = entry["detail"], entry["action"]
    day = uk_day(london_date(as_utc(entry["occurred_at"])))
    describer = _DESCRIBERS.get(action)
    if describer is None:
        return f"{action.replace('_', ' ').capitalize()}."
    return describer(d, day, names, school_urn)


def _received(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    counts = d.get("pupils", {})
    pupils = _listed([f"{counts[kind]} {kind}" for kind in CHANGE_KINDS if counts.get(kind)]) if any(
        counts.get(kind) for kind in CHANGE_KINDS) else "no change"
    items = [f"{_item(name)}: {c['inserted']} added, {c['updated']} updated, {c['deleted']} removed"
             for name, c in d.get("items", {}).items()]
    return f"Pupils: {pupils}." + (f" {'; '.join(items)}." if items else "")


def _shared(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    partner = names.partners.get(d.get("partner"), d.get("partner"))
    items = [DATASETS.get(k, k) for k, n in d.get("counts", {}).items() if k != "pupils" and n]
    what = f" ({_listed(items)})" if items else ""
    if school_urn is not None:
        mine = (d.get("pupils_by_school") or {}).get(school_urn)
        pupils = _count(mine, "of this school's pupils", "of this school's pupils") if mine is not None else \
            "this school's pupils (how many was not recorded before per-school counts)"
        others = len(d.get("schools", [])) - 1
        along = f", with {_count(others, 'other school')} of the same partner" if others > 0 else ""
        return f"Shared with {partner} ({d.get('partner')}): {pupils}{what}{along}."
    schools = d.get("schools", [])
    return (f"Shared with {partner} ({d.get('partner')}): {_count(d.get('counts', {}).get('pupils', 0), 'pupil')} "
            f"of {_count(len(schools), 'school')}{what}.")


def _purged(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    kind = d.get("kind")
    if kind == "named":
        rules = _listed([f"{n} because {RETENTION_RULES.get(rule, rule)}" for rule, n in d.get("by_rule", {}).items()]
                        ) if d.get("by_rule") else "no rule recorded"
        return (f"Names and identifiers of {_count(d.get('pupils', 0), 'pupil')} removed ({rules}), due by "
                f"{_day(d.get('as_of'))}; the un-named figures are kept for up to 5 years.")
    if kind == "unnamed":
        return (f"Across all schools: {_count(d.get('unnamed_records', 0), 'un-named record')} and "
                f"{_count(d.get('change_sets', 0), 'change set')} deleted, 5 years after they were un-named.")
    return (f"The subscription ended: {_count(d.get('quarantined_records_removed', 0), 'record')} held back by "
            f"our checks deleted as of {_day(d.get('as_of'))}.")


def _items_removed(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    rows = [f"{DATASETS.get(name, name)}: {_count(n, 'row')}" for name, n in d.get("rows_removed", {}).items()]
    return f"No longer authorised by the school, so removed: {_listed(rows) if rows else 'nothing was held'}."


_KIND_WORDS = {"la": "the local authority", "trust": "the academy trust", "diocese": "the diocese"}


def _setting(name: str, before, after, day: str) -> list[str]:
    if name == "withheld_items":
        return ([f"{_item(i)}: withheld from {day}" for i in after if i not in before]
                + [f"{_item(i)}: collected again from {day}" for i in before if i not in after])
    if name == "sharing_off":
        return ([f"Sharing with {_KIND_WORDS.get(k, k)}: switched off from {day}" for k in after if k not in before]
                + [f"Sharing with {_KIND_WORDS.get(k, k)}: switched on again from {day}" for k in before if k not in after])
    if name == "paused":
        return [f"Data collection: paused from {day} (the school is not contacted)" if after
                else f"Data collection: resumed from {day}"]
    if name == "sync_mode":
        return [f"Sync mode: {after} (was {before or 'not set'})"]
    if name == "agreement_accepted_on":
        return [f"Data sharing agreement: accepted on {_day(after)}" + (f" (was {_day(before)})" if before else "")]
    if name == "agreement_version":
        return [f"Agreement version: {after or 'not given'}"]
    if name == "subscription_end":
        return [f"Subscription end: {_day(after) if after else 'cleared'} (was {_day(before)})"]
    if name == "final_year_group":
        return [f"Final year group: Year {after} (was {f'Year {before}' if before else 'not set'})"]
    return [f"{name.replace('_', ' ').capitalize()}: {after} (was {before})"]


def describe_settings(moved: dict, day: date | str) -> str:
    """What a settings change moved ({setting: {"before", "after"}}), in plain English."""
    day = uk_day(day) if isinstance(day, date) else day
    lines = [line for name, v in moved.items() for line in _setting(name, v.get("before"), v.get("after"), day)]
    return "; ".join(lines) + "." if lines else "No setting moved."


def _settings(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    return describe_settings(d, day)


def _sar(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    outcome = "a pupil was found and reported" if d.get("found") else "no named data held; un-named figures reported"
    return f"Subject access report ({str(d.get('format', '')).upper()}): {outcome}. The report names no pupil here."


def _keys(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    retired = d.get("retired_master_keys") or []
    tail = f"; master keys retired: {', '.join(retired)}" if retired else ""
    return (f"Encryption keys rotated: {_count(d.get('data_keys_rewrapped', 0), 'pupil data key')} re-wrapped under "
            f"master key {d.get('master_key')}{tail}.")


_DESCRIBERS = {"change_set_applied": _received, "share_made": _shared, "purge": _purged,
               "items_removed": _items_removed, "settings_changed": _settings, "subject_access_report": _sar,
               "keys_rotated": _keys}


# ── JSON and CSV ──────────────────────────────────────────────────────────────────────────────
def as_json(rows: list[Event], about: dict | None = None) -> str:
    return json.dumps({"report": about or {}, "entries": [asdict(e) for e in rows]}, indent=1, ensure_ascii=False)


def as_csv(rows: list[Event]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in rows:
        row = asdict(event)
        writer.writerow({**{k: "" if row[k] is None else row[k] for k in FIELDS},
                         "detail": json.dumps(row["detail"], sort_keys=True)})
    return out.getvalue()


# ── the school's links, for the summary ───────────────────────────────────────────────────────
def school_links(engine: Engine, urn: str) -> list[tuple[str, str]]:
    """The school's partners as GIAS names them: [(label, "name (code)")]."""
    with engine.connect() as conn:
        row = conn.execute(select(gias_establishments).where(gias_establishments.c.urn == urn)).mappings().first()
    if row is None:
        return [("Partners", "no GIAS record imported for this school")]
    links = [(PARTNER_KINDS["la"], f"{row['la_name'] or 'name not in GIAS'} (code {row['la_code']})")]
    if row["trust_uid"]:
        links.append((PARTNER_KINDS["trust"], f"{row['trust_name'] or 'name not in GIAS'} (UID {row['trust_uid']})"))
    if row["diocese_code"] and row["diocese_code"] != "0000":
        links.append((PARTNER_KINDS["diocese"], f"{row['diocese_name'] or 'name not in GIAS'} "
                                                f"(code {row['diocese_code']})"))
    return links


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
    cells = [[_p(str(text), styles.head if header and r == 0 else styles.cell) for text in row]
             for r, row in enumerate(rows)]
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
        return f"{_count(len(rows), 'update')}, {_count(sum(e.pupils or 0 for e in rows), 'pupil change')}"
    if key == "shared":
        partners = Counter(e.partner_name or e.partner for e in rows)
        return "; ".join(f"{name}: {_count(n, 'share')}" for name, n in partners.items())
    if key == "deleted":
        named = sum(e.pupils or 0 for e in rows if e.action == "purge")
        return f"{_count(len(rows), 'entry', 'entries')}; names removed for {_count(named, 'pupil')}"
    return _count(len(rows), "entry", "entries")


def as_pdf(rows: list[Event], title: str, facts: list[tuple[str, str]], produced: datetime,
           per_school: bool) -> bytes:
    """Page 1: who the report is about, its partners, and each section's totals. Then each section
    as a dated table: when (UK time), what, who acted."""
    styles = _Styles()
    by_section = {key: [e for e in rows if e.section == key] for key, _, _ in SECTIONS}
    period = f"{rows[0].occurred_at_uk} to {rows[-1].occurred_at_uk}" if rows else "no entries yet"
    facts = [*facts, ("Period covered", period), ("Produced", uk_time(produced)),
             ("Entries", f"{len(rows)}; counts only, no pupil is named")]
    summary = [["Section", "Entries", "In short"]] + [
        [name, str(len(by_section[key])), _summary_line(key, by_section[key])] for key, name, _ in SECTIONS]
    story = [_p(title, styles.title), _table([list(f) for f in facts], [40 * mm, 140 * mm], styles, header=False),
             Spacer(1, 5 * mm), _p("Summary", styles.heading), _table(summary, [55 * mm, 18 * mm, 107 * mm], styles),
             Spacer(1, 4 * mm),
             _p("Times are UK time (GMT or BST, as named). \"Who\" is the person who ran the command, or the "
                "schedule or sensor that started the run.", styles.body), PageBreak()]
    for key, name, _ in SECTIONS:
        found = by_section[key]
        if not found:
            story += section(_p(name, styles.heading), [_p("Nothing recorded.", styles.body)], room=25 * mm)
            continue
        school = [] if per_school else ["School"]
        header = ["When (UK time)", *school, "What", "Who"]
        widths = [34 * mm, *([30 * mm] if not per_school else []), (104 if not per_school else 116) * mm, 30 * mm]
        table = [header] + [[e.occurred_at_uk, *([_school_cell(e)] if not per_school else []), e.description, e.actor]
                            for e in found]
        story += section(_p(name, styles.heading), [_table(table, widths, styles)])
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=title, author="", leftMargin=15 * mm, rightMargin=15 * mm,
                      topMargin=15 * mm, bottomMargin=18 * mm).build(
        story, canvasmaker=numbered_canvas(f"{title}. Audit log: counts only, no pupil named"))
    return buffer.getvalue()


def _school_cell(event: Event) -> str:
    if event.school_urn:
        return f"{event.school_name or 'school'} ({event.school_urn})"
    schools = event.detail.get("schools") if event.action == "share_made" else None
    return _count(len(schools), "school") if schools else "all schools"
