"""The two reports people outside the project read, made through the command line for a school that
withholds an item, had its data shared and purged, and changed a setting: the DPO's audit PDF and
a family's subject access PDF. Read back, they name the partner and the operator, explain every
code they show, number their pages and hold no Python literal."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from mis_pipeline.cli.main import main
from mis_pipeline.lib.codes import (
    ASSESSMENT_RESULTS,
    ATTENDANCE_MARKS,
    ETHNICITIES,
    FIRST_LANGUAGES,
    NC_YEARS,
    SEN_PROVISION,
)
from mis_pipeline.lib.dates import london_today, uk_day
from mis_pipeline.warehouse.schema import gias_establishments, pupils
from mis_pipeline_tests.pii import pii_strings
from mis_pipeline_tests.reports.test_sar_support import SCHOOL, pdf_text, school_of, served_items

LITERALS = ("None", "[]", "['", "{'", "True", "False")


def completion_deadline() -> date:
    """Six months after this school year's final-year pupils complete: the last day of February."""
    today = london_today()
    end_year = today.year + 1 if today.month >= 9 else today.year
    return date.fromordinal(date(end_year + 1, 3, 1).toordinal() - 1)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_dpos_audit_and_a_familys_report_name_partner_and_operator_and_explain_every_code(
    simulator, population, registry, instance, engine, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("MIS_OPERATOR", "unused")  # `--as` sets it; monkeypatch puts it back afterwards

    def cli(*argv: str) -> str:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), err
        return out

    school = school_of(population)
    with engine.connect() as conn:
        la_code, la_name = conn.execute(
            sa.select(gias_establishments.c.la_code, gias_establishments.c.la_name).where(
                gias_establishments.c.urn == SCHOOL
            )
        ).one()
    cli("--as", "dpo.jo", "schools", "set", SCHOOL, "--withhold", "groups")
    cli("--as", "ops.sam", "sync", "--school", SCHOOL)
    with engine.connect() as conn:
        held = conn.execute(
            sa.select(sa.func.count())
            .select_from(pupils)
            .where(pupils.c.school_urn == SCHOOL, pupils.c.deleted_at.is_(None))
        ).scalar()
    cli("--as", "ops.sam", "share", "--partner", f"la-{la_code}", "--out", str(tmp_path / "shares"))
    final_year = str(school.statutory_high_age - 5)
    leaving = sum(p.current_nc_year == final_year for p in school.pupils)
    cli("--as", "ops.sam", "purge", "--as-of", completion_deadline().isoformat())
    cli("--as", "office.priya", "audit", SCHOOL, "--format", "pdf", "--out", str(tmp_path / "audit.pdf"))
    document = json.loads(cli("audit", SCHOOL))
    pupil = next(p for p in school.pupils if p.current_nc_year != final_year)
    cli(
        "--as",
        "office.priya",
        "sar",
        SCHOOL,
        "--upn",
        pupil.upn,
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "sar.pdf"),
    )

    audit = pdf_text(tmp_path / "audit.pdf")
    today = uk_day(london_today())
    for expected in (
        f"Data processing record: {school.name} (URN {SCHOOL})",
        f"Local authority {la_name} (code {la_code})",
        f"Groups: withheld from {today}. dpo.jo",
        "Data items withheld Groups",
        "Sharing switched off none",
        "Agreement accepted 1 September 2026 (version 1.0)",
        f"Shared with Local authority: {la_name} (la-{la_code}): {held} of this school's pupils",
        f"Names and identifiers of {leaving} pupils removed ({leaving} because the pupil completed the "
        "school's last key stage)",
        "ops.sam",
        "Page 1 of ",
        " GMT",
    ):
        assert expected in audit
    assert [literal for literal in LITERALS if literal in audit] == []
    assert sorted(v for v in pii_strings(population) if v in audit) == []
    [share] = [e for e in document["entries"] if e["action"] == "share_made"]
    assert (share["school_urn"], share["partner_name"], share["pupils"], share["actor"]) == (
        SCHOOL,
        f"Local authority: {la_name}",
        held,
        "ops.sam",
    )
    assert {e["actor"] for e in document["entries"]} == {"test set-up", "dpo.jo", "ops.sam"}

    sar = pdf_text(tmp_path / "sar.pdf")
    items = served_items(population, school, pupil)
    [details] = items["additional_details"]
    shown = (
        [(ATTENDANCE_MARKS, m["mark"]) for m in items["attendance"]]
        + [(ASSESSMENT_RESULTS, r["result"]) for r in items["assessments"]]
        + [
            (SEN_PROVISION, details["sen_status"]),
            (ETHNICITIES, details["ethnicity"]),
            (FIRST_LANGUAGES, details["first_language"]),
            (NC_YEARS, pupil.current_nc_year),
        ]
    )
    assert {code for table, code in shown if code not in table} == set()
    for table, code in shown:
        assert (
            f"{code} ({table[code]})" if table is not ATTENDANCE_MARKS else f"{code} {table[code]}"
        ) in sar
    for expected in (
        "5. Groups Not collected (withheld by the school).",
        f"Local authority: {la_name}",
        "Glossary",
        "UPN (Unique Pupil Number)",
        "The school system's own reference number for the pupil",
        "Page 1 of ",
        " GMT",
    ):
        assert expected in sar
    assert [literal for literal in LITERALS if literal in sar] == []
