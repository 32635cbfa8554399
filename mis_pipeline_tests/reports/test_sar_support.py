"""Support for the subject access report tests (no tests here): the school and pupils they report
on, what the simulator served for them, the `sar` command as `mis-pipeline` runs it, and the report files read
back (JSON, the CSV zip, the PDF's text)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile

import pypdf

from mis_pipeline.cli.commands import CommandError, UsageError
from mis_pipeline.cli.sar_command import add_sar_parser
from mis_simulator.datasets import datasets_for

# An XoD primary that grants every data item, with pupils called Nguyễn, Şahin and O'Connor.
SCHOOL = "100191"
SEXES = {"MALE": "M", "FEMALE": "F"}


def school_of(population):
    [school] = [s for s in population.approved_schools() if s.urn == SCHOOL]
    return school


def pupil_named(school, forename: str, surname: str):
    [pupil] = [p for p in school.pupils if (p.legal_forename, p.legal_surname) == (forename, surname)]
    return pupil


def served_record(school, pupil) -> dict:
    """The core record as the simulator served it, as the JSON report must hold it."""
    return {
        "legal_forename": pupil.legal_forename,
        "middle_names": pupil.middle_names,
        "legal_surname": pupil.legal_surname,
        "forename": pupil.forename,
        "surname": pupil.surname,
        "date_of_birth": pupil.date_of_birth.isoformat(),
        "sex": SEXES[pupil.gender],
        "upn": pupil.upn,
        "former_upn": pupil.former_upn,
        "nc_year": pupil.current_nc_year,
        "admission_date": pupil.admission_date.isoformat(),
        "leaving_date": None,
        "school_urn": school.urn,
        "connector": school.connector,
        "mis_id": pupil.mis_id,
    }


def served_items(population, school, pupil) -> dict[str, list[dict]]:
    """The pupil's other data items as the simulator served them, in the report's order."""
    data = datasets_for(population, school)
    details = data.details[pupil.id]
    aspects = {a.id: a.name for a in data.aspects}
    result_sets = {r.id: r.name for r in data.result_sets}
    results = [r for r in data.results if r.pupil_id == pupil.id]
    return {
        "additional_details": [
            {
                "sen_status": details.sen_status,
                "fsm_eligible": details.fsm_eligible,
                "pupil_premium": details.pupil_premium,
                "eal": details.eal,
                "first_language": details.first_language,
                "ethnicity": details.ethnicity,
                "in_care": details.in_care,
            }
        ],
        "attendance": sorted(
            (
                {"session_date": m.date.isoformat(), "session": m.session, "mark": m.code}
                for m in data.attendance
                if m.pupil_id == pupil.id
            ),
            key=lambda m: (m["session_date"], m["session"]),
        ),
        "assessments": sorted(
            (
                {
                    "aspect_name": aspects[r.aspect_id],
                    "result_set_name": result_sets[r.result_set_id],
                    "result": r.result,
                    "result_date": r.result_date.isoformat(),
                }
                for r in results
            ),
            key=lambda r: (r["result_date"], r["result_set_name"], r["aspect_name"]),
        ),
        "groups": sorted(
            (
                {"group_type": g.type, "group_code": g.code, "group_name": g.name}
                for g in data.groups
                if pupil.id in g.member_ids
            ),
            key=lambda g: (g["group_type"], g["group_code"]),
        ),
    }


def without(rows: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def sar(capsys, *argv: str) -> tuple[int, str, str]:
    """`mis-pipeline sar …` as main() runs it: exit code, stdout, stderr."""
    parser = argparse.ArgumentParser(prog="mis-pipeline")
    add_sar_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sar", *argv])
    try:
        code = args.handler(args)
    except CommandError as error:
        print(f"mis-pipeline: {error}", file=sys.stderr)
        code = 2 if isinstance(error, UsageError) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_json(path) -> dict:
    return json.loads(path.read_bytes().decode("utf-8"))


def read_csv_zip(path) -> dict[str, list[dict]]:
    """Each CSV in the zip, by file name, as rows of text."""
    with zipfile.ZipFile(path) as archive:
        return {
            name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
            for name in archive.namelist()
        }


def pdf_text(path) -> str:
    """The PDF's text, every run of whitespace made one space."""
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def as_cell(value) -> str:
    """A JSON report value as the CSV report writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def in_words(day) -> str:
    return f"{day.day} {day:%B %Y}"
