"""A subject access report rendered: one JSON document (sections as keys), a zip of CSV files
(one per section, UTF-8 with a byte-order mark so spreadsheet programs read accents right), or a
PDF a parent can read, in an embedded Unicode font so every name prints and copies exactly.

Values round-trip: JSON and CSV carry dates as YYYY-MM-DD and times as ISO 8601 UTC, and the text
of names, UPNs and codes unchanged; the PDF shows dates in words ("4 March 2019").
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from mis_pipeline.lib.dates import iso_utc

from .sar import SECTION_BY_KEY, Section, SubjectAccessReport

TITLE = "Subject access report"
CSV_ABOUT = "report.csv"


def render(report: SubjectAccessReport, fmt: str) -> bytes:
    return {"json": as_json, "csv": as_csv_zip, "pdf": as_pdf}[fmt](report)


# ── JSON ──────────────────────────────────────────────────────────────────────────────────────
def _plain(value):
    """A value as JSON holds it: dates YYYY-MM-DD, times ISO 8601 UTC, the rest as itself."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def about(report: SubjectAccessReport) -> dict:
    return {"title": TITLE, "school_urn": report.school_urn, "school_name": report.school_name,
            "produced_at": iso_utc(report.produced_at), "found": report.found, "matched_on": report.matched_on,
            "upn_searched": report.upn_searched, "statement": report.statement(), "sections": report.counts()}


def as_json(report: SubjectAccessReport) -> bytes:
    document: dict = {"report": about(report)}
    for section in report.shown:
        rows = [_plain(row) for row in report.sections.get(section.key, [])]
        document[section.key] = (rows[0] if rows else None) if section.key == "pupil" else rows
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


# ── CSV in a zip ──────────────────────────────────────────────────────────────────────────────
def csv_cell(value) -> str:
    """A value as a CSV cell: empty for none, true/false, dates and times as in JSON, a list of
    field names joined by "; ", a record as received as a JSON object."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(_plain(value))


def _csv(header: tuple[str, ...], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in header])
    return out.getvalue().encode("utf-8-sig")


def as_csv_zip(report: SubjectAccessReport) -> bytes:
    """`report.csv` (what the report is, as field,value rows), then one CSV per section."""
    buffer = io.BytesIO()
    stamp = report.produced_at.astimezone(timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        facts = [{"field": k, "value": v if k != "sections" else json.dumps(v)} for k, v in about(report).items()]
        archive.writestr(zipfile.ZipInfo(CSV_ABOUT, stamp), _csv(("field", "value"), facts), zipfile.ZIP_DEFLATED)
        for section in report.shown:
            archive.writestr(zipfile.ZipInfo(f"{section.key}.csv", stamp),
                             _csv(section.columns, report.sections.get(section.key, [])), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# ── PDF ───────────────────────────────────────────────────────────────────────────────────────
_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)
FONT, FONT_BOLD = "SarSans", "SarSans-Bold"


@lru_cache(maxsize=1)
def font_files() -> tuple[str, str]:
    """DejaVu Sans (wide Unicode coverage: ễ, Ł, ř, Ş…) when installed, else reportlab's own Vera."""
    import reportlab

    for regular, bold in _FONT_CANDIDATES:
        if Path(regular).is_file():
            return regular, bold if Path(bold).is_file() else regular
    bundled = Path(reportlab.__file__).parent / "fonts"
    return str(bundled / "Vera.ttf"), str(bundled / "VeraBd.ttf")


@lru_cache(maxsize=1)
def _register_fonts() -> None:
    regular, bold = font_files()
    pdfmetrics.registerFont(TTFont(FONT, regular))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, bold))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


SEN = {"N": "no special educational needs", "K": "SEN support", "E": "education, health and care plan"}
SEXES = {"M": "male", "F": "female"}
CONNECTORS = {"wonde": "Wonde", "xod": "Groupcall Xporter on Demand"}
CHANGE_KINDS = {"new": "first received", "changed": "changed", "left": "left the school",
                "deleted": "deleted in the school's system", "restored": "restored in the school's system"}
STATUSES = {"applied": "applied", "pending": "waiting for the school to apply it",
            "superseded": "replaced by a later change set, never applied"}
RULES = {"left": "the pupil left", "completed_key_stage": "the pupil completed the school's last key stage",
         "subscription_ended": "the school's subscription ended"}
DATASETS = {"pupils": "Pupil record", "pupil_details": "Additional details", "attendance_sessions": "Attendance",
            "assessment_results": "Assessment results", "pupil_groups": "Groups"}
ATTENDANCE_MARKS = {
    "/": "present (morning)", "\\": "present (afternoon)", "L": "late, before the register closed",
    "K": "education arranged by the local authority", "V": "educational visit or trip",
    "P": "approved sporting activity", "W": "work experience", "B": "other approved educational activity",
    "D": "attending another school it is registered at", "C": "authorised leave of absence",
    "C1": "regulated performance or employment abroad", "C2": "part-time timetable",
    "M": "medical or dental appointment", "J1": "interview", "J": "interview", "S": "study leave",
    "R": "religious observance", "T": "travelling (mobile child)",
    "I": "illness", "E": "suspended or excluded", "G": "holiday not authorised", "N": "reason not yet given",
    "O": "unauthorised absence", "U": "late, after the register closed", "H": "authorised holiday (before 2024)",
    "Y": "exceptional circumstances (before 2024)", "X": "not required to attend",
    "Q": "unable to attend: no access arranged",
    "Y1": "unable to attend: transport", "Y2": "unable to attend: travel disruption",
    "Y3": "unable to attend: part of the school closed", "Y4": "unable to attend: school closed unexpectedly",
    "Y5": "unable to attend: in custody", "Y6": "unable to attend: public health guidance",
    "Y7": "unable to attend: other unavoidable cause", "Z": "not yet on the admission register",
    "#": "planned school closure", "-": "no mark recorded yet",
}


def _words(value) -> str:
    """A value as a reader sees it: dates in words, times with their zone, yes/no."""
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc)
        return f"{value.day} {value:%B %Y, %H:%M} UTC"
    if isinstance(value, date):
        return f"{value.day} {value:%B %Y}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(v) for v in value)
    return str(value)


def _shown(column: str, value) -> str:
    coded = {"sen_status": SEN, "sex": SEXES, "kind": CHANGE_KINDS, "status": STATUSES, "rule": RULES}.get(column)
    if coded and value in coded:
        return f"{value} ({coded[value]})" if column in ("sen_status", "sex") else coded[value]
    if column == "connector":
        return CONNECTORS.get(value, _words(value))
    if column == "fields":
        labels = SECTION_BY_KEY["pupil"].labels
        return ", ".join(labels.get(name, name) for name in value) or "\u2014"
    if column == "dataset":
        return DATASETS.get(value, value)
    if column == "record" and isinstance(value, dict):
        return "; ".join(f"{name}: {_words(v)}" for name, v in value.items())
    if column == "group_type" and isinstance(value, str):
        return value.capitalize()
    return _words(value)


class _Styles:
    def __init__(self) -> None:
        _register_fonts()
        base = getSampleStyleSheet()
        self.title = base["Title"].clone("sar-title", fontName=FONT_BOLD)
        self.heading = base["Heading2"].clone("sar-heading", fontName=FONT_BOLD)
        self.body = base["BodyText"].clone("sar-body", fontName=FONT)
        self.cell = base["BodyText"].clone("sar-cell", fontName=FONT, fontSize=8.5, leading=11)
        self.head = base["BodyText"].clone("sar-head", fontName=FONT_BOLD, fontSize=8.5, leading=11)


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[str]], widths: list[float], styles: _Styles, header: bool = True) -> Table:
    cells = [[_p(text, styles.head if header and r == 0 else styles.cell) for text in row]
             for r, row in enumerate(rows)]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")))
    else:
        commands.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef1f6")))
    table.setStyle(TableStyle(commands))
    return table


_WIDTH = 180 * mm
_WIDTHS = {"quarantined_records": [28 * mm, 42 * mm, 110 * mm],
           "change_history": [16 * mm, 36 * mm, 36 * mm, 32 * mm, 26 * mm, 34 * mm]}


def _name(pupil: dict | None) -> str | None:
    if not pupil:
        return None
    parts = (pupil.get("legal_forename"), pupil.get("middle_names"), pupil.get("legal_surname"))
    return " ".join(part for part in parts if part)


def _section_flowables(report: SubjectAccessReport, number: int, section: Section, styles: _Styles) -> list:
    rows = report.sections.get(section.key, [])
    story = [_p(f"{number}. {section.title}", styles.heading)]
    if not rows:
        story.append(_p("Nothing held." if report.found else "None.", styles.body))
        return story
    labels = section.labels
    if section.key in ("pupil", "additional_details"):
        row = rows[0]
        table = [[labels[c], _shown(c, row.get(c))] for c in section.columns]
        story.append(_table(table, [70 * mm, _WIDTH - 70 * mm], styles, header=False))
        return story
    if section.key == "attendance":
        counts = Counter(row["mark"] for row in rows)
        summary = [["Mark", "Meaning", "Sessions"]] + [
            [mark, ATTENDANCE_MARKS.get(mark, "code used by the school"), str(n)] for mark, n in sorted(counts.items())]
        story += [_p(f"{len(rows)} sessions recorded. Summary by mark:", styles.body),
                  _table(summary, [20 * mm, 130 * mm, 30 * mm], styles), Spacer(1, 3 * mm)]
        columns = ("session_date", "session", "mark")
        table = [[labels[c] for c in columns] + ["Meaning"]] + [
            [_shown(c, row[c]) for c in columns] + [ATTENDANCE_MARKS.get(row["mark"], "")] for row in rows]
        story.append(_table(table, [50 * mm, 25 * mm, 20 * mm, 85 * mm], styles))
        return story
    columns = tuple(c for c in section.columns if c != "source_updated_at")
    table = [[labels[c] for c in columns]] + [[_shown(c, row.get(c)) for c in columns] for row in rows]
    widths = _WIDTHS.get(section.key) or [_WIDTH / len(columns)] * len(columns)
    story.append(_table(table, widths, styles))
    return story


def as_pdf(report: SubjectAccessReport) -> bytes:
    styles = _Styles()
    produced = report.produced_at.astimezone(timezone.utc)
    story = [_p(TITLE, styles.title)]
    facts = []
    name = _name(report.pupil)
    if name:
        facts.append(["Pupil", name])
    else:
        facts.append(["UPN asked about", report.upn_searched])
    facts += [["School", f"{report.school_name} (URN {report.school_urn})"],
              ["Produced", f"{produced.day} {produced:%B %Y, %H:%M} UTC"]]
    story += [_table(facts, [40 * mm, _WIDTH - 40 * mm], styles, header=False), Spacer(1, 3 * mm),
              _p(report.statement(), styles.body), Spacer(1, 3 * mm)]
    counts = report.counts()
    contents = [["Section", "Entries"]] + [[f"{n}. {s.title}", str(counts[s.key])]
                                           for n, s in enumerate(report.shown, 1)]
    story += [_p("Contents", styles.heading), _table(contents, [140 * mm, 40 * mm], styles)]
    for number, section in enumerate(report.shown, 1):
        story += _section_flowables(report, number, section, styles)
    if report.found:
        story += [Spacer(1, 4 * mm), _p(
            "Codes: attendance marks are the Department for Education's register codes; first language and "
            "ethnicity are the school census codes. Times are in UTC. The school is the controller of this data: "
            "please ask the school about anything in this report.", styles.body)]

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.drawString(15 * mm, 10 * mm, f"{TITLE}: confidential. {report.school_name}, URN {report.school_urn}. "
                                            f"Page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=TITLE, author="", subject="", leftMargin=15 * mm,
                      rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=18 * mm).build(
        story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
