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
from datetime import UTC, date, datetime
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

from mis_pipeline.lib.codes import (
    ASSESSMENT_RESULTS,
    ATTENDANCE_MARKS,
    CONNECTORS,
    DATASETS,
    ETHNICITIES,
    FIRST_LANGUAGES,
    NC_YEARS,
    RETENTION_RULES,
    SEN_PROVISION,
    SEXES,
    UNKNOWN,
    explain,
)
from mis_pipeline.lib.dates import iso_utc, uk_day, uk_time
from mis_pipeline.lib.pdf import numbered_canvas
from mis_pipeline.lib.pdf import section as section_kept
from mis_pipeline.sar.model import SECTION_BY_KEY, Section, SubjectAccessReport

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
    return {
        "title": TITLE,
        "school_urn": report.school_urn,
        "school_name": report.school_name,
        "produced_at": iso_utc(report.produced_at),
        "found": report.found,
        "matched_on": report.matched_on,
        "upn_searched": report.upn_searched,
        "statement": report.statement(),
        "sections": report.counts(),
        "not_collected": report.not_collected,
    }


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
    stamp = report.produced_at.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        facts = [
            {"field": k, "value": v if k != "sections" else json.dumps(v)} for k, v in about(report).items()
        ]
        archive.writestr(
            zipfile.ZipInfo(CSV_ABOUT, stamp), _csv(("field", "value"), facts), zipfile.ZIP_DEFLATED
        )
        for section in report.shown:
            archive.writestr(
                zipfile.ZipInfo(f"{section.key}.csv", stamp),
                _csv(section.columns, report.sections.get(section.key, [])),
                zipfile.ZIP_DEFLATED,
            )
    return buffer.getvalue()


# ── PDF ───────────────────────────────────────────────────────────────────────────────────────
_FONT_CANDIDATES = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
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


CHANGE_KINDS = {
    "new": "first received",
    "changed": "changed",
    "left": "left the school",
    "deleted": "deleted in the school's system",
    "restored": "restored in the school's system",
}
STATUSES = {
    "applied": "applied",
    "pending": "waiting for the school to apply it",
    "superseded": "replaced by a later change set, never applied",
}
# Columns holding a code, and the code set that explains it.
CODED = {
    "sen_status": SEN_PROVISION,
    "sex": SEXES,
    "first_language": FIRST_LANGUAGES,
    "ethnicity": ETHNICITIES,
    "result": ASSESSMENT_RESULTS,
    "mark": ATTENDANCE_MARKS,
    "nc_year": NC_YEARS,
}


def _words(value) -> str:
    """A value as a reader sees it: dates in words, times with their zone, yes/no."""
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return uk_time(value)
    if isinstance(value, date):
        return uk_day(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(v) for v in value)
    return str(value)


def _shown(column: str, value) -> str:
    if column in CODED and value not in (None, ""):
        return explain(CODED[column], value)
    worded = {"kind": CHANGE_KINDS, "status": STATUSES, "rule": RETENTION_RULES}.get(column)
    if worded and value in worded:
        return worded[value]
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
    cells = [
        [_p(text, styles.head if header and r == 0 else styles.cell) for text in row]
        for r, row in enumerate(rows)
    ]
    table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")))
    else:
        commands.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef1f6")))
    table.setStyle(TableStyle(commands))
    return table


_WIDTH = 180 * mm
_WIDTHS = {
    "quarantined_records": [28 * mm, 42 * mm, 110 * mm],
    "change_history": [16 * mm, 36 * mm, 36 * mm, 32 * mm, 26 * mm, 34 * mm],
}


def _name(pupil: dict | None) -> str | None:
    if not pupil:
        return None
    parts = (pupil.get("legal_forename"), pupil.get("middle_names"), pupil.get("legal_surname"))
    return " ".join(part for part in parts if part)


def _section_flowables(report: SubjectAccessReport, number: int, section: Section, styles: _Styles) -> list:
    rows = report.sections.get(section.key, [])
    heading = _p(f"{number}. {section.title}", styles.heading)
    if not rows:
        empty = report.emptiness(section.key) if report.found else "none"
        return section_kept(heading, [_p(empty[0].upper() + empty[1:] + ".", styles.body)])
    labels = section.labels
    if section.key in ("pupil", "additional_details"):
        row = rows[0]
        table = [[labels[c], _shown(c, row.get(c))] for c in section.columns]
        return section_kept(heading, [_table(table, [70 * mm, _WIDTH - 70 * mm], styles, header=False)])
    if section.key == "attendance":
        counts = Counter(row["mark"] for row in rows)
        summary = [["Mark", "Meaning", "Sessions"]] + [
            [mark, ATTENDANCE_MARKS.get(mark, UNKNOWN), str(n)] for mark, n in sorted(counts.items())
        ]
        columns = ("session_date", "session")
        table = [[labels[c] for c in columns] + ["Mark", "Meaning"]] + [
            [_shown(c, row[c]) for c in columns] + [row["mark"], ATTENDANCE_MARKS.get(row["mark"], UNKNOWN)]
            for row in rows
        ]
        return section_kept(
            heading,
            [
                _p(f"{len(rows)} sessions recorded. Summary by mark:", styles.body),
                _table(summary, [20 * mm, 130 * mm, 30 * mm], styles),
                Spacer(1, 3 * mm),
                _table(table, [50 * mm, 25 * mm, 20 * mm, 85 * mm], styles),
            ],
        )
    columns = tuple(c for c in section.columns if c != "source_updated_at")
    table = [[labels[c] for c in columns]] + [[_shown(c, row.get(c)) for c in columns] for row in rows]
    widths = _WIDTHS.get(section.key) or [_WIDTH / len(columns)] * len(columns)
    return section_kept(heading, [_table(table, widths, styles)])


GLOSSARY = (
    (
        "UPN (Unique Pupil Number)",
        "the number the Department for Education's systems give a pupil in England; "
        "it stays with the pupil from school to school.",
    ),
    ("Former UPN", "a UPN the pupil had before, for example a temporary one replaced by the permanent one."),
    (
        "Connector",
        "the company whose service passes the school's data to us (Wonde or Groupcall Xporter on "
        "Demand); the school chooses which data items it passes on.",
    ),
    (
        "Reference numbers",
        "the school's system, and the connector, each give the pupil a reference number of "
        "their own so that updates reach the right record; they mean nothing outside those "
        "systems.",
    ),
    (
        "Attendance mark",
        "the Department for Education's register code for a morning (AM) or afternoon (PM) "
        "session; each mark shown is explained beside it.",
    ),
    (
        "Census codes",
        "the codes schools use in the school census for first language, ethnicity and special "
        "educational needs (SEN) provision; each is explained beside it.",
    ),
    (
        "Assessment results",
        "teacher assessment codes (WTS working towards, EXS expected standard, GDS greater "
        "depth) and GCSE grades 9 to 1; each is explained beside it.",
    ),
    (
        "Not collected (withheld by the school)",
        "the school told us not to collect this item, so nothing of it "
        'is held; this is different from "nothing held", where the '
        "item is collected but the school's system holds nothing for "
        "the pupil.",
    ),
    (
        "Change set",
        "the changes found at one update from the school's system; only the names of the fields "
        "that changed are kept, not the earlier values.",
    ),
    (
        "Records held back by our checks",
        "a record from the school that failed a check (for example a UPN "
        "whose check letter is wrong) is kept aside until the school corrects it.",
    ),
    (
        "Partners",
        "the school's local authority, academy trust and diocese: the only organisations its data "
        "is shared with, and only as the school allows.",
    ),
    ("Times", "shown in UK time, GMT or BST as named."),
)


def as_pdf(report: SubjectAccessReport) -> bytes:
    styles = _Styles()
    story = [_p(TITLE, styles.title)]
    facts = []
    name = _name(report.pupil)
    if name:
        facts.append(["Pupil", name])
    else:
        facts.append(["UPN asked about", report.upn_searched])
    facts += [
        ["School", f"{report.school_name} (URN {report.school_urn})"],
        ["Produced", uk_time(report.produced_at)],
    ]
    story += [
        _table(facts, [40 * mm, _WIDTH - 40 * mm], styles, header=False),
        Spacer(1, 3 * mm),
        _p(report.statement(), styles.body),
        Spacer(1, 3 * mm),
    ]
    counts = report.counts()
    contents = [["Section", "Entries"]] + [
        [
            f"{n}. {s.title}",
            str(counts[s.key]) if counts[s.key] else report.emptiness(s.key) if report.found else "none",
        ]
        for n, s in enumerate(report.shown, 1)
    ]
    story += section_kept(_p("Contents", styles.heading), [_table(contents, [120 * mm, 60 * mm], styles)])
    for number, section in enumerate(report.shown, 1):
        story += _section_flowables(report, number, section, styles)
    if report.found:
        glossary = [["Term", "What it means"]] + [[term, meaning] for term, meaning in GLOSSARY]
        story += section_kept(
            _p("Glossary", styles.heading),
            [
                _table(glossary, [55 * mm, _WIDTH - 55 * mm], styles),
                Spacer(1, 3 * mm),
                _p(
                    "The school is the controller of this data: please ask the school about anything in this report.",
                    styles.body,
                ),
            ],
        )
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=TITLE,
        author="",
        subject="",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
    ).build(
        story,
        canvasmaker=numbered_canvas(
            f"{TITLE}: confidential. {report.school_name}, URN {report.school_urn}", FONT
        ),
    )
    return buffer.getvalue()
