"""Subject access reports: everything held about one pupil of one school, gathered for the school
(the controller) to answer a subject access request.

The pupil is found by UPN (or former UPN) among the school's held pupils, opened with their data
keys: UPNs are sealed, so they are compared only after opening, and the UPN asked for is never
logged, audited or put in an exception. A pupil whose named data was purged cannot be found: the
un-named records the purge leaves hold no identifier by design, so such a report says only that
no named data is held and which un-named figures exist for the school in general, without
pretending to link them to the pupil.

`produce_report` gathers, renders (`sar_render`), writes the file and records the audit entry
(format, found, rows per section: never a pupil value) in one transaction.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from mis_pipeline.registry.names import partner_name
from mis_pipeline.sar.model import (
    NOT_GRANTED,
    SECTION_BY_KEY,
    SECTIONS,
    UNNAMED_SECTION,
    WITHHELD,
    SubjectAccessReport,
)
from mis_pipeline.sar.render import render
from mis_pipeline.warehouse.audit_log import record_audit
from mis_pipeline.warehouse.reader import read_pupils, read_quarantine
from mis_pipeline.warehouse.schema import (
    DATASET_TABLES,
    change_sets,
    pupil_changes,
    schools,
    share_log,
    share_pupils,
    unnamed_pupils,
)
from mis_pipeline.warehouse.vault import Vault

FORMATS = ("json", "csv", "pdf")
SUFFIXES = {"json": ".json", "csv": ".zip", "pdf": ".pdf"}
AUDIT_ACTION = "subject_access_report"


class SarError(Exception):
    """A one-line reason no report could be made; never carries the UPN or any pupil value."""


class SarRequestError(SarError):
    """The request itself is wrong (format, URN, UPN shape, output file): the operator must change it."""


_ITEM_SECTIONS = {
    "additional_details": "pupil_details",
    "attendance": "attendance_sessions",
    "assessments": "assessment_results",
    "groups": "pupil_groups",
}
_ITEM_ORDER = {
    "additional_details": (),
    "attendance": ("session_date", "session"),
    "assessments": ("result_date", "result_set_name", "aspect_name"),
    "groups": ("group_type", "group_code"),
}


def normalise_upn(text: str) -> str:
    return "".join(text.split()).upper()


def gather(
    engine: Engine, vault: Vault, school_urn: str, upn: str, now: datetime | None = None
) -> SubjectAccessReport:
    """Everything held about the pupil with this UPN (or former UPN) at this school."""
    wanted = normalise_upn(upn)
    with engine.connect() as conn:
        school = conn.execute(
            select(schools.c.name, schools.c.granted_items, schools.c.withheld_items).where(
                schools.c.urn == school_urn
            )
        ).one_or_none()
    if school is None:
        raise SarError(f"no school with URN {school_urn} is registered")
    school_name = school.name
    produced_at = (now or datetime.now(UTC)).astimezone(UTC)
    held = read_pupils(engine, vault, school_urn)
    record, matched_on = _match(held, wanted, "held pupil record")
    quarantined = read_quarantine(engine, vault, school_urn)
    if record is None:
        # a pupil whose only record failed our checks is still held (sealed, under their key)
        core = [q["record"] for q in quarantined if q["dataset"] == "pupils" and q["record"].get("pupil_key")]
        found, matched_on = _match(core, wanted, "quarantined pupil record")
        pupil_key = found["pupil_key"] if found else None
    else:
        pupil_key = record["pupil_key"]
    if pupil_key is None:
        with engine.connect() as conn:
            unnamed = _unnamed_figures(conn, school_urn)
        return SubjectAccessReport(
            school_urn, school_name, produced_at, wanted, False, None, {UNNAMED_SECTION: unnamed}
        )

    sections: dict[str, list[dict]] = {"pupil": [_record_row(record)] if record else []}
    with engine.connect() as conn:
        for key, dataset in _ITEM_SECTIONS.items():
            sections[key] = _item_rows(conn, key, dataset, pupil_key)
        sections["change_history"] = _change_history(conn, school_urn, pupil_key)
        sections["quarantined_records"] = [
            {
                "dataset": q["dataset"],
                "rule": q["rule"],
                "record": {k: v for k, v in q["record"].items() if k != "pupil_key"},
            }
            for q in quarantined
            if q["record"].get("pupil_key") == pupil_key
        ]
        sections["shared_with"] = _shares(conn, pupil_key)
    return SubjectAccessReport(
        school_urn,
        school_name,
        produced_at,
        wanted,
        True,
        matched_on,
        {s.key: sections[s.key] for s in SECTIONS},
        not_collected(json.loads(school.granted_items), json.loads(school.withheld_items)),
    )


def not_collected(granted: list[str], withheld: list[str]) -> dict[str, str]:
    """The item sections the school does not let us collect, and why: withheld in its settings, or
    never granted at the connector. (Item names and section keys are the same words.)"""
    reasons = {item: NOT_GRANTED for item in _ITEM_SECTIONS if item not in granted}
    reasons.update({item: WITHHELD for item in _ITEM_SECTIONS if item in withheld})
    return reasons


def _match(candidates: list[dict], wanted: str, what: str) -> tuple[dict | None, str | None]:
    """The one candidate whose UPN is `wanted`, else the one whose former UPN is."""
    for column in ("upn", "former_upn"):
        matches = [c for c in candidates if c.get(column) and normalise_upn(c[column]) == wanted]
        if len(matches) > 1:
            label = "UPN" if column == "upn" else "former UPN"
            raise SarError(
                f"{len(matches)} {what}s match this {label}; the school must resolve the duplicate "
                "before a report can be made"
            )
        if matches:
            return matches[0], column
    return None, None


def _utc(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _record_row(record: dict) -> dict:
    return {name: _utc(record.get(name)) for name in SECTION_BY_KEY["pupil"].columns}


def _item_rows(conn: Connection, key: str, dataset: str, pupil_key: str) -> list[dict]:
    table = DATASET_TABLES[dataset]
    columns = SECTION_BY_KEY[key].columns
    order = [table.c[name] for name in _ITEM_ORDER[key]]
    rows = (
        conn.execute(
            select(*(table.c[name] for name in columns))
            .where(table.c.pupil_key == pupil_key)
            .order_by(*order)
        )
        .mappings()
        .all()
    )
    return [{name: _utc(row[name]) for name in columns} for row in rows]


def _change_history(conn: Connection, school_urn: str, pupil_key: str) -> list[dict]:
    """The change sets that name this pupil, oldest first: when, status, kind and field names."""
    rows = conn.execute(
        select(
            change_sets.c.id,
            change_sets.c.created_at,
            change_sets.c.applied_at,
            change_sets.c.status,
            pupil_changes.c.kind,
            pupil_changes.c.fields,
        )
        .select_from(pupil_changes.join(change_sets, change_sets.c.id == pupil_changes.c.change_set_id))
        .where(pupil_changes.c.pupil_key == pupil_key, change_sets.c.school_urn == school_urn)
        .order_by(change_sets.c.id)
    ).all()
    return [
        {
            "change_set": row.id,
            "computed_at": _utc(row.created_at),
            "applied_at": _utc(row.applied_at),
            "status": row.status,
            "kind": row.kind,
            "fields": list(json.loads(row.fields)),
        }
        for row in rows
    ]


def _shares(conn: Connection, pupil_key: str) -> list[dict]:
    """Which partners received the pupil's data, and when, oldest first."""
    rows = conn.execute(
        select(share_log.c.id, share_log.c.partner, share_log.c.made_at)
        .select_from(share_pupils.join(share_log, share_log.c.id == share_pupils.c.share_id))
        .where(share_pupils.c.pupil_key == pupil_key)
        .order_by(share_log.c.made_at, share_log.c.id)
    ).all()
    names = {partner: partner_name(conn, partner) for partner in {row.partner for row in rows}}
    return [
        {"partner": row.partner, "partner_name": names[row.partner], "made_at": _utc(row.made_at)}
        for row in rows
    ]


def _unnamed_figures(conn: Connection, school_urn: str) -> list[dict]:
    """The school's un-named records, counted per school year and retention rule: figures only."""
    rows = conn.execute(
        select(unnamed_pupils.c.academic_year, unnamed_pupils.c.rule, func.count())
        .where(unnamed_pupils.c.school_urn == school_urn)
        .group_by(unnamed_pupils.c.academic_year, unnamed_pupils.c.rule)
        .order_by(unnamed_pupils.c.academic_year, unnamed_pupils.c.rule)
    ).all()
    return [{"academic_year": year, "rule": rule, "records": count} for year, rule, count in rows]


# ── producing one ─────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Produced:
    """What the caller may show: never a pupil value."""

    school_urn: str
    format: str
    found: bool
    counts: dict[str, int]
    unnamed_records: int
    bytes_written: int


def check_request(school_urn: str, upn: str, fmt: str, out: Path) -> None:
    """Refuse a request that cannot succeed before anything is decrypted."""
    if fmt not in FORMATS:
        raise SarRequestError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if not school_urn or not school_urn.isdigit():
        raise SarRequestError("the school URN must be digits")
    wanted = normalise_upn(upn)
    if not wanted:
        raise SarRequestError("no UPN given")
    if len(wanted) != 13 or not wanted.isalnum():
        raise SarRequestError("a UPN has 13 letters and digits; check the one given")
    suffix = SUFFIXES[fmt]
    if out.suffix.lower() != suffix:
        what = "a zip of CSV files, one per section" if fmt == "csv" else f"a {fmt.upper()} file"
        raise SarRequestError(
            f"--format {fmt} writes {what}: name the output file *{suffix} (got {out.name})"
        )
    if out.exists():
        raise SarRequestError("the output file already exists; not overwriting it")
    if not out.parent.is_dir():
        raise SarRequestError("the output file's folder does not exist")


def produce_report(
    engine: Engine,
    vault: Vault,
    school_urn: str,
    upn: str,
    fmt: str,
    out: Path,
    *,
    actor: str,
    run_id: str | None = None,
    now: datetime | None = None,
) -> Produced:
    """Gather, render and write the report (readable by its owner only), and audit it: the file
    and the audit entry exist together or not at all."""
    out = Path(out)
    check_request(school_urn, upn, fmt, out)
    report = gather(engine, vault, school_urn, upn, now)
    content = render(report, fmt)
    counts = report.counts()
    written = False
    try:
        with engine.begin() as conn:
            record_audit(
                conn,
                AUDIT_ACTION,
                {"format": fmt, "found": report.found, "sections": counts},
                actor=actor,
                school_urn=school_urn,
                run_id=run_id,
            )
            _write_new(out, content)
            written = True
    except BaseException:
        if written:
            out.unlink(missing_ok=True)  # the audit entry did not commit: neither does the report
        raise
    return Produced(school_urn, fmt, report.found, counts, report.unnamed_total, len(content))


def _write_new(path: Path, content: bytes) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SarError("the output file already exists; not overwriting it") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def describe(produced: Produced, out: Path | str) -> str:
    """One line for the operator: counts only."""
    if not produced.found:
        return (
            f"nothing held about a pupil with this UPN at school {produced.school_urn} "
            f"({produced.unnamed_records} un-named records for the school in general); wrote {out}"
        )
    counts = ", ".join(f"{key.replace('_', ' ')} {n}" for key, n in produced.counts.items())
    return (
        f"wrote {out}: subject access report ({produced.format}) for a pupil of school {produced.school_urn}: "
        f"{counts}"
    )
