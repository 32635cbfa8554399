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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from data_contracts import ASSESSMENT_RESULTS, ATTENDANCE_SESSIONS, PUPIL_DETAILS, PUPIL_GROUPS, PUPILS, Contract
from mis_pipeline.audit.log import record_audit
from mis_pipeline.warehouse.reader import read_pupils, read_quarantine
from mis_pipeline.warehouse.schema import (
    DATASET_TABLES, change_sets, gias_establishments, pupil_changes, schools, share_log, share_pupils, unnamed_pupils,
)
from mis_pipeline.warehouse.vault import Vault

FORMATS = ("json", "csv", "pdf")
AUDIT_ACTION = "subject_access_report"
UNNAMED_SECTION = "unnamed_figures"


class SarError(Exception):
    """A one-line reason no report could be made; never carries the UPN or any pupil value."""


@dataclass(frozen=True)
class Section:
    key: str  # the JSON key and the CSV file name
    title: str  # the heading a reader sees (PDF)
    columns: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)  # column -> readable label


def _labels(contract: Contract, columns: tuple[str, ...], **extra: str) -> dict[str, str]:
    known = {c.name: c.description for c in contract.columns}
    return {name: extra.get(name) or known[name] for name in columns}


def _item_columns(contract: Contract) -> tuple[str, ...]:
    """A data item's columns as held, less the internal key and the school (the report's own)."""
    return tuple(c.name for c in contract.columns if c.name not in ("pupil_key", "school_urn"))


# The record's columns: names and identity first, then the rest of the contract (so a column the
# contract gains appears without a change here), then what we recorded about holding it.
_RECORD_FIRST = ("legal_forename", "middle_names", "legal_surname", "forename", "surname", "date_of_birth", "sex",
                 "upn", "former_upn", "nc_year", "admission_date", "leaving_date")
_RECORD_HELD = ("first_synced_at", "last_changed_at", "deleted_at", "left_informed_at")
_RECORD_COLUMNS = (_RECORD_FIRST + tuple(c.name for c in PUPILS.columns
                                         if c.name not in _RECORD_FIRST and c.name != "pupil_key") + _RECORD_HELD)

SECTIONS = (
    Section("pupil", "Pupil record", _RECORD_COLUMNS, _labels(
        PUPILS, _RECORD_COLUMNS, school_urn="School URN", connector="Received through (connector)",
        connector_pupil_id="The connector's id for the pupil", upi="The connector's unique pupil identifier",
        mis_id="The school system's id for the pupil", source_updated_at="Last changed in the school's system",
        first_synced_at="First received by us", last_changed_at="Last changed here",
        deleted_at="Deleted in the school's system on", left_informed_at="Leaving date first received on",
        nc_year="National curriculum year", sex="Sex", upn="UPN (Unique Pupil Number)", former_upn="Former UPN",
        leaving_date="Leaving date")),
    Section("additional_details", "Additional details", _item_columns(PUPIL_DETAILS),
            _labels(PUPIL_DETAILS, _item_columns(PUPIL_DETAILS),
                    source_updated_at="Last changed in the school's system")),
    Section("attendance", "Attendance", _item_columns(ATTENDANCE_SESSIONS),
            _labels(ATTENDANCE_SESSIONS, _item_columns(ATTENDANCE_SESSIONS), session_date="Date", session="Session",
                    mark="Mark", source_updated_at="Last changed in the school's system")),
    Section("assessments", "Assessment results", _item_columns(ASSESSMENT_RESULTS),
            _labels(ASSESSMENT_RESULTS, _item_columns(ASSESSMENT_RESULTS), aspect_name="Subject or aspect",
                    result_set_name="Assessment period", result="Result", result_date="Date",
                    source_updated_at="Last changed in the school's system")),
    Section("groups", "Groups", _item_columns(PUPIL_GROUPS),
            _labels(PUPIL_GROUPS, _item_columns(PUPIL_GROUPS), group_type="Kind of group", group_code="Code",
                    group_name="Name", source_updated_at="Last changed in the school's system")),
    Section("change_history", "History of changes",
            ("change_set", "computed_at", "applied_at", "status", "kind", "fields"),
            {"change_set": "No.", "computed_at": "Received", "applied_at": "Applied", "status": "Status",
             "kind": "Change", "fields": "Fields that changed"}),
    Section("quarantined_records", "Records held back by our checks", ("dataset", "rule", "record"),
            {"dataset": "Data item", "rule": "Check it failed", "record": "The record as received"}),
    Section("shared_with", "Shared with", ("partner", "partner_name", "made_at"),
            {"partner": "Partner", "partner_name": "Name", "made_at": "When"}),
)
UNNAMED = Section(UNNAMED_SECTION, "Un-named figures held for the school", ("academic_year", "rule", "records"),
                  {"academic_year": "School year", "rule": "Why the named data was removed", "records": "Records"})
SECTION_BY_KEY = {s.key: s for s in (*SECTIONS, UNNAMED)}

_ITEM_SECTIONS = {"additional_details": "pupil_details", "attendance": "attendance_sessions",
                  "assessments": "assessment_results", "groups": "pupil_groups"}
_ITEM_ORDER = {"additional_details": (), "attendance": ("session_date", "session"),
               "assessments": ("result_date", "result_set_name", "aspect_name"), "groups": ("group_type", "group_code")}


@dataclass(frozen=True)
class SubjectAccessReport:
    school_urn: str
    school_name: str
    produced_at: datetime
    upn_searched: str
    found: bool
    matched_on: str | None  # "upn" or "former_upn" when found
    sections: dict[str, list[dict]]  # section key -> rows, in `SECTIONS` order (or the un-named figures)

    @property
    def pupil(self) -> dict | None:
        rows = self.sections.get("pupil") or []
        return rows[0] if rows else None

    @property
    def shown(self) -> tuple[Section, ...]:
        """The sections this report holds: every named section when found, else the un-named figures."""
        return SECTIONS if self.found else (UNNAMED,)

    def counts(self) -> dict[str, int]:
        return {s.key: len(self.sections.get(s.key, [])) for s in self.shown}

    @property
    def unnamed_total(self) -> int:
        return sum(row["records"] for row in self.sections.get(UNNAMED_SECTION, []))

    def statement(self) -> str:
        """What the report says, in a sentence or two a parent can read."""
        school = f"{self.school_name} (URN {self.school_urn})"
        if self.found:
            via = " (found by a former UPN)" if self.matched_on == "former_upn" else ""
            record = "" if self.pupil else (" No current pupil record is held: only the records our checks held back, "
                                            "listed below.")
            return (f"This report sets out everything held about the pupil named in it{via}, as received from "
                    f"{school}.{record}")
        unnamed = (f"The school has {self.unnamed_total} un-named records in total (listed below)"
                   if self.unnamed_total else "The school has no un-named records")
        return ("Nothing held: no named data is held about a pupil with this UPN at "
                f"{school}. When a pupil's named data is removed under the retention rules, what remains is "
                "un-named: it holds no name, UPN, date of birth or other identifier, so it cannot be linked to "
                f"any pupil, and is kept for audit for up to 5 years. {unnamed}; none of them can be said to be "
                "this pupil's.")


def normalise_upn(text: str) -> str:
    return "".join(text.split()).upper()


def gather(engine: Engine, vault: Vault, school_urn: str, upn: str, now: datetime | None = None) -> SubjectAccessReport:
    """Everything held about the pupil with this UPN (or former UPN) at this school."""
    wanted = normalise_upn(upn)
    with engine.connect() as conn:
        school_name = conn.execute(select(schools.c.name).where(schools.c.urn == school_urn)).scalar_one_or_none()
    if school_name is None:
        raise SarError(f"no school with URN {school_urn} is registered")
    produced_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
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
        return SubjectAccessReport(school_urn, school_name, produced_at, wanted, False, None,
                                   {UNNAMED_SECTION: unnamed})

    sections: dict[str, list[dict]] = {"pupil": [_record_row(record)] if record else []}
    with engine.connect() as conn:
        for key, dataset in _ITEM_SECTIONS.items():
            sections[key] = _item_rows(conn, key, dataset, pupil_key)
        sections["change_history"] = _change_history(conn, school_urn, pupil_key)
        sections["quarantined_records"] = [
            {"dataset": q["dataset"], "rule": q["rule"],
             "record": {k: v for k, v in q["record"].items() if k != "pupil_key"}}
            for q in quarantined if q["record"].get("pupil_key") == pupil_key]
        sections["shared_with"] = _shares(conn, pupil_key)
    return SubjectAccessReport(school_urn, school_name, produced_at, wanted, True, matched_on,
                               {s.key: sections[s.key] for s in SECTIONS})


def _match(candidates: list[dict], wanted: str, what: str) -> tuple[dict | None, str | None]:
    """The one candidate whose UPN is `wanted`, else the one whose former UPN is."""
    for column in ("upn", "former_upn"):
        matches = [c for c in candidates if c.get(column) and normalise_upn(c[column]) == wanted]
        if len(matches) > 1:
            label = "UPN" if column == "upn" else "former UPN"
            raise SarError(f"{len(matches)} {what}s match this {label}; the school must resolve the duplicate "
                           "before a report can be made")
        if matches:
            return matches[0], column
    return None, None


def _utc(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _record_row(record: dict) -> dict:
    return {name: _utc(record.get(name)) for name in SECTION_BY_KEY["pupil"].columns}


def _item_rows(conn: Connection, key: str, dataset: str, pupil_key: str) -> list[dict]:
    table = DATASET_TABLES[dataset]
    columns = SECTION_BY_KEY[key].columns
    order = [table.c[name] for name in _ITEM_ORDER[key]]
    rows = conn.execute(select(*(table.c[name] for name in columns)).where(table.c.pupil_key == pupil_key)
                        .order_by(*order)).mappings().all()
    return [{name: _utc(row[name]) for name in columns} for row in rows]


def _change_history(conn: Connection, school_urn: str, pupil_key: str) -> list[dict]:
    """The change sets that name this pupil, oldest first: when, status, kind and field names."""
    rows = conn.execute(
        select(change_sets.c.id, change_sets.c.created_at, change_sets.c.applied_at, change_sets.c.status,
               pupil_changes.c.kind, pupil_changes.c.fields)
        .select_from(pupil_changes.join(change_sets, change_sets.c.id == pupil_changes.c.change_set_id))
        .where(pupil_changes.c.pupil_key == pupil_key, change_sets.c.school_urn == school_urn)
        .order_by(change_sets.c.id)).all()
    return [{"change_set": row.id, "computed_at": _utc(row.created_at), "applied_at": _utc(row.applied_at),
             "status": row.status, "kind": row.kind, "fields": list(json.loads(row.fields))} for row in rows]


_PARTNER_KINDS = {"la": "Local authority", "trust": "Academy trust", "diocese": "Diocese"}


def _shares(conn: Connection, pupil_key: str) -> list[dict]:
    """Which partners received the pupil's data, and when, oldest first."""
    rows = conn.execute(
        select(share_log.c.id, share_log.c.partner, share_log.c.made_at)
        .select_from(share_pupils.join(share_log, share_log.c.id == share_pupils.c.share_id))
        .where(share_pupils.c.pupil_key == pupil_key).order_by(share_log.c.made_at, share_log.c.id)).all()
    names = {partner: _partner_name(conn, partner) for partner in {row.partner for row in rows}}
    return [{"partner": row.partner, "partner_name": names[row.partner], "made_at": _utc(row.made_at)} for row in rows]


def _partner_name(conn: Connection, partner: str) -> str:
    """A partner id (la-371, trust-2044, diocese-CE23) as a reader knows it, named from GIAS."""
    kind, _, code = partner.partition("-")
    column = {"la": (gias_establishments.c.la_name, gias_establishments.c.la_code),
              "trust": (gias_establishments.c.trust_name, gias_establishments.c.trust_uid),
              "diocese": (gias_establishments.c.diocese_name, gias_establishments.c.diocese_code)}.get(kind)
    if column is None:
        return partner
    name = conn.execute(select(column[0]).where(column[1] == code, column[0].is_not(None)).limit(1)).scalar()
    return f"{_PARTNER_KINDS[kind]}: {name}" if name else f"{_PARTNER_KINDS[kind]} {code}"


def _unnamed_figures(conn: Connection, school_urn: str) -> list[dict]:
    """The school's un-named records, counted per school year and retention rule: figures only."""
    rows = conn.execute(
        select(unnamed_pupils.c.academic_year, unnamed_pupils.c.rule, func.count())
        .where(unnamed_pupils.c.school_urn == school_urn)
        .group_by(unnamed_pupils.c.academic_year, unnamed_pupils.c.rule)
        .order_by(unnamed_pupils.c.academic_year, unnamed_pupils.c.rule)).all()
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
        raise SarError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if not school_urn or not school_urn.isdigit():
        raise SarError("the school URN must be digits")
    wanted = normalise_upn(upn)
    if not wanted:
        raise SarError("no UPN given")
    if len(wanted) != 13 or not wanted.isalnum():
        raise SarError("a UPN has 13 letters and digits; check the one given")
    if out.exists():
        raise SarError("the output file already exists; not overwriting it")
    if not out.parent.is_dir():
        raise SarError("the output file's folder does not exist")


def produce_report(engine: Engine, vault: Vault, school_urn: str, upn: str, fmt: str, out: Path, *, actor: str,
                   run_id: str | None = None, now: datetime | None = None) -> Produced:
    """Gather, render and write the report (readable by its owner only), and audit it: the file
    and the audit entry exist together or not at all."""
    from .sar_render import render

    out = Path(out)
    check_request(school_urn, upn, fmt, out)
    report = gather(engine, vault, school_urn, upn, now)
    content = render(report, fmt)
    counts = report.counts()
    written = False
    try:
        with engine.begin() as conn:
            record_audit(conn, AUDIT_ACTION, {"format": fmt, "found": report.found, "sections": counts},
                         actor=actor, school_urn=school_urn, run_id=run_id)
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
        return (f"nothing held about a pupil with this UPN at school {produced.school_urn} "
                f"({produced.unnamed_records} un-named records for the school in general); wrote {out}")
    counts = ", ".join(f"{key.replace('_', ' ')} {n}" for key, n in produced.counts.items())
    return (f"wrote {out}: subject access report ({produced.format}) for a pupil of school {produced.school_urn}: "
            f"{counts}")

