"""Subject access reports against a real sync of the simulator: everything held about one pupil,
exactly as the school's system served it, in JSON, a zip of CSVs and a PDF a parent can read; a
UPN not held (or purged) gives a "nothing held" report; every report is audited without a pupil
value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from data_contracts import PUPILS
from mis_pipeline.cli.launch import run_sync
from mis_pipeline.cli.runs import run_job
from mis_pipeline.lib.academic import academic_year_label
from mis_pipeline.lib.dates import london_today
from mis_pipeline.lib.upn import make_temporary_upn, make_upn
from mis_pipeline.registry.settings import SettingsChange, apply_settings
from mis_pipeline.retention.assets import PURGE_JOB
from mis_pipeline.sar.gather import SECTIONS, SUFFIXES, produce_report
from mis_pipeline.warehouse.audit_log import read_audit
from mis_pipeline.warehouse.change_store import record_change_set
from mis_pipeline.warehouse.changes import PupilChange
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import gias_establishments, pupils, quarantine, share_log, share_pupils
from mis_pipeline.warehouse.sealing import seal_direct, seal_payload
from mis_pipeline.warehouse.vault import school_key_ref
from mis_pipeline_tests.pii import pii_strings
from mis_pipeline_tests.reports.test_sar_support import (
    SCHOOL,
    as_cell,
    in_words,
    pdf_text,
    pupil_named,
    read_csv_zip,
    read_json,
    sar,
    school_of,
    served_items,
    served_record,
    without,
)

SQLITE = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
TITLES = [f"{n}. {s.title}" for n, s in enumerate(SECTIONS, 1)]
CSV_FILES = ["report.csv"] + [f"{s.key}.csv" for s in SECTIONS]


def synced(instance) -> None:
    summary = run_sync(instance, requested=[SCHOOL])
    assert summary.success, summary.failure_reason


def held_key(engine, vault, upn: str) -> str:
    [key] = [p["pupil_key"] for p in read_pupils(engine, vault, SCHOOL) if p["upn"] == upn]
    return key


@SQLITE
def test_pupils_with_accented_names_and_an_apostrophe_round_trip_exactly_in_json_csv_and_pdf(
    simulator, population, registry, instance, engine, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("MIS_OPERATOR", "Dana Ofori (school office)")
    synced(instance)
    school = school_of(population)
    # no simulator pupil has both: ễ and Ş in two, an apostrophe in the third
    chosen = [
        pupil_named(school, "Ivy", "Nguyễn"),
        pupil_named(school, "Noah", "Şahin"),
        pupil_named(school, "Sofia", "O'Connor"),
    ]
    lines, audited = [], []
    for n, pupil in enumerate(chosen):
        record, items = served_record(school, pupil), served_items(population, school, pupil)
        counts = {
            "pupil": 1,
            **{key: len(rows) for key, rows in items.items()},
            "change_history": 1,
            "quarantined_records": 0,
            "shared_with": 0,
        }
        for fmt in ("json", "csv", "pdf"):
            out_file = tmp_path / f"{n}{SUFFIXES[fmt]}"
            code, out, err = sar(capsys, SCHOOL, "--upn", pupil.upn, "--format", fmt, "--out", str(out_file))
            assert (code, err) == (0, "")
            lines.append(out)
            audited.append(("Dana Ofori (school office)", {"format": fmt, "found": True, "sections": counts}))

        document = read_json(tmp_path / f"{n}.json")
        assert list(document) == ["report"] + [s.key for s in SECTIONS]
        assert set(document["pupil"]) == set(SECTIONS[0].columns)
        assert {k: document["pupil"][k] for k in record} == record
        for key, rows in items.items():
            assert without(document[key], "source_updated_at") == rows
        [change] = document["change_history"]
        assert (change["status"], change["kind"], change["fields"]) == ("applied", "new", [])
        assert (document["quarantined_records"], document["shared_with"]) == ([], [])
        about = ("school_urn", "found", "matched_on", "upn_searched", "sections")
        assert {k: document["report"][k] for k in about} == {
            "school_urn": SCHOOL,
            "found": True,
            "matched_on": "upn",
            "upn_searched": pupil.upn,
            "sections": counts,
        }

        tables = read_csv_zip(tmp_path / f"{n}.zip")
        assert list(tables) == CSV_FILES
        [row] = tables["pupil.csv"]
        assert {k: row[k] for k in record} == {k: as_cell(v) for k, v in record.items()}
        assert [(r["session_date"], r["session"], r["mark"]) for r in tables["attendance.csv"]] == [
            (m["session_date"], m["session"], m["mark"]) for m in items["attendance"]
        ]
        for section in SECTIONS:  # every section, every value: the CSV says what the JSON says
            rows = document[section.key] if section.key != "pupil" else [document["pupil"]]
            assert tables[f"{section.key}.csv"] == [{c: as_cell(r[c]) for c in section.columns} for r in rows]

        text = pdf_text(tmp_path / f"{n}.pdf")
        for value in (
            pupil.legal_forename,
            pupil.legal_surname,
            pupil.surname,
            pupil.middle_names,
            pupil.upn,
            in_words(pupil.date_of_birth),
            f"{pupil.legal_forename} {pupil.middle_names} {pupil.legal_surname}",
            f"{len(items['attendance'])} sessions recorded",
            *TITLES,
        ):
            assert value in text

    assert lines[0] == (
        f"wrote {tmp_path / '0.json'}: subject access report (json) for a pupil of school {SCHOOL}: "
        "pupil 1, additional details 1, attendance 20, assessments 6, groups 3, change history 1, "
        "quarantined records 0, shared with 0\n"
    )
    entries = read_audit(engine, school_urn=SCHOOL, action="subject_access_report")
    assert [(e["actor"], e["detail"]) for e in entries] == audited
    assert audited[0][1]["sections"] == {
        "pupil": 1,
        "additional_details": 1,
        "attendance": 20,
        "assessments": 6,
        "groups": 3,
        "change_history": 1,
        "quarantined_records": 0,
        "shared_with": 0,
    }
    exposed = json.dumps([e["detail"] for e in entries], ensure_ascii=False) + "".join(
        line.replace(str(tmp_path), "") for line in lines
    )
    assert sorted(v for v in pii_strings(population) if v in exposed) == []


def test_the_report_lists_the_pupils_changes_held_back_records_and_shares_and_finds_a_former_upn(
    simulator, population, registry, instance, engine, vault, tmp_path, capsys
):
    synced(instance)
    school = school_of(population)
    sofia, ivy = pupil_named(school, "Sofia", "O'Connor"), pupil_named(school, "Ivy", "Nguyễn")
    sofia_key, ivy_key = held_key(engine, vault, sofia.upn), held_key(engine, vault, ivy.upn)
    temporary = make_temporary_upn("371", "2005", 2024, 77)
    stranger = make_upn("371", "2005", 2024, 999)  # a pupil whose only record failed our checks
    now = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    held = {p["pupil_key"]: p for p in read_pupils(engine, vault, SCHOOL)}
    with engine.begin() as conn:
        # the school replaced Sofia's temporary UPN: the former UPN still finds her
        keys = vault.data_keys(
            conn, {sofia_key: SCHOOL, "key-stranger": SCHOOL, school_key_ref(SCHOOL): SCHOOL}
        )
        conn.execute(
            sa.update(pupils)
            .where(pupils.c.pupil_key == sofia_key)
            .values(sealed=seal_direct(PUPILS, {**held[sofia_key], "former_upn": temporary}, keys[sofia_key]))
        )
        record_change_set(
            conn,
            SCHOOL,
            "run-2",
            now,
            "applied",
            [
                PupilChange(sofia_key, "changed", ("former_upn", "upn")),
                PupilChange(ivy_key, "changed", ("surname",)),
            ],
            {"pupils": {"changed": 2}, "items": {}},
        )
        held_back = [
            (
                "attendance_sessions",
                "ref-1",
                "mark: attendance_code",
                sofia_key,
                {"pupil_key": sofia_key, "session_date": "2026-09-21", "session": "AM", "mark": "ZZ"},
            ),
            (
                "pupils",
                "ref-2",
                "date_of_birth: not_nullable",
                "key-stranger",
                {
                    "pupil_key": "key-stranger",
                    "upn": stranger,
                    "legal_forename": "Łucja",
                    "legal_surname": "Dvořák",
                    "date_of_birth": None,
                },
            ),
            (
                "pupil_groups",
                "ref-3",
                "group_type: group_type_code",
                school_key_ref(SCHOOL),
                {"group_type": "club", "group_code": "CH1"},
            ),
        ]
        conn.execute(
            sa.insert(quarantine),
            [
                dict(
                    school_urn=SCHOOL,
                    dataset=dataset,
                    record_ref=ref,
                    rule=rule,
                    key_ref=key_ref,
                    sealed_payload=seal_payload(record, keys[key_ref], dataset, key_ref),
                    run_id="run-2",
                    quarantined_at=now,
                )
                for dataset, ref, rule, key_ref, record in held_back
            ],
        )
        la_code, la_name = conn.execute(
            sa.select(gias_establishments.c.la_code, gias_establishments.c.la_name).where(
                gias_establishments.c.urn == SCHOOL
            )
        ).one()
        shares = [
            (f"la-{la_code}", now - timedelta(days=1), [sofia_key, ivy_key]),
            ("trust-2044", now, [ivy_key]),
        ]
        for partner, made_at, keys_in in shares:
            share_id = conn.execute(
                sa.insert(share_log).values(
                    partner=partner,
                    made_at=made_at,
                    schools=json.dumps([SCHOOL]),
                    counts="{}",
                    manifest_sha256="0" * 64,
                    run_id="run-3",
                )
            ).inserted_primary_key[0]
            conn.execute(sa.insert(share_pupils), [dict(share_id=share_id, pupil_key=k) for k in keys_in])

    produced = produce_report(
        engine, vault, SCHOOL, temporary.lower(), "json", tmp_path / "sofia.json", actor="test"
    )
    document = read_json(tmp_path / "sofia.json")
    assert (produced.found, document["report"]["matched_on"]) == (True, "former_upn")
    assert (document["pupil"]["upn"], document["pupil"]["former_upn"]) == (sofia.upn, temporary)
    assert [(c["change_set"], c["status"], c["kind"], c["fields"]) for c in document["change_history"]] == [
        (1, "applied", "new", []),
        (2, "applied", "changed", ["former_upn", "upn"]),
    ]
    assert document["change_history"][1]["computed_at"] == "2026-11-02T09:30:00+00:00"
    assert document["quarantined_records"] == [
        {
            "dataset": "attendance_sessions",
            "rule": "mark: attendance_code",
            "record": {"session_date": "2026-09-21", "session": "AM", "mark": "ZZ"},
        }
    ]
    assert document["shared_with"] == [
        {
            "partner": f"la-{la_code}",
            "partner_name": f"Local authority: {la_name}",
            "made_at": "2026-11-01T09:30:00+00:00",
        }
    ]

    produce_report(engine, vault, SCHOOL, sofia.upn, "pdf", tmp_path / "sofia.pdf", actor="test")
    text = pdf_text(tmp_path / "sofia.pdf")
    assert "Local authority: " + la_name in text and "1 November 2026, 09:30 GMT" in text
    assert "applied changed Former UPN, UPN (Unique Pupil Number)" in text
    assert "Attendance mark: attendance_code session_date: 2026-09-21; session: AM; mark: ZZ" in text

    # a pupil held only as a record our checks held back is still reported, with that record
    produce_report(engine, vault, SCHOOL, stranger, "json", tmp_path / "stranger.json", actor="test")
    document = read_json(tmp_path / "stranger.json")
    assert (document["report"]["found"], document["pupil"]) == (True, None)
    assert document["quarantined_records"] == [
        {
            "dataset": "pupils",
            "rule": "date_of_birth: not_nullable",
            "record": {
                "upn": stranger,
                "legal_forename": "Łucja",
                "legal_surname": "Dvořák",
                "date_of_birth": None,
            },
        }
    ]
    assert document["report"]["sections"] == {
        "pupil": 0,
        "additional_details": 0,
        "attendance": 0,
        "assessments": 0,
        "groups": 0,
        "change_history": 0,
        "quarantined_records": 1,
        "shared_with": 0,
    }

    # two held pupils answering to one UPN: no report (it could show one pupil's data to another)
    with engine.begin() as conn:
        key = vault.existing_keys(conn, [ivy_key])[ivy_key]
        conn.execute(
            sa.update(pupils)
            .where(pupils.c.pupil_key == ivy_key)
            .values(sealed=seal_direct(PUPILS, {**held[ivy_key], "upn": sofia.upn}, key))
        )
    code, out, err = sar(
        capsys, SCHOOL, "--upn", sofia.upn, "--format", "json", "--out", str(tmp_path / "both.json")
    )
    assert (code, out, err) == (
        1,
        "",
        "mis-pipeline: 2 held pupil records match this UPN; the school must resolve "
        "the duplicate before a report can be made\n",
    )
    assert not (tmp_path / "both.json").exists()
    assert len(read_audit(engine, school_urn=SCHOOL, action="subject_access_report")) == 3


@SQLITE
def test_a_purged_pupils_report_says_only_that_no_named_data_is_held_and_what_the_school_holds_un_named(
    simulator, population, registry, instance, engine, tmp_path, capsys
):
    synced(instance)
    school = school_of(population)
    ivy = pupil_named(school, "Ivy", "Nguyễn")
    today = london_today()
    apply_settings(engine, [SCHOOL], SettingsChange(subscription_end=today), actor="test")
    as_of = today + relativedelta(months=6, days=1)
    ops = ("retention_eligible_records", "named_data_purge", "unnamed_data_purge")
    assert run_job(
        instance, PURGE_JOB, {"ops": {op: {"config": {"as_of": as_of.isoformat()}} for op in ops}}
    ).success

    for fmt in ("json", "csv", "pdf"):
        code, out, err = sar(
            capsys, SCHOOL, "--upn", ivy.upn, "--format", fmt, "--out", str(tmp_path / f"ivy{SUFFIXES[fmt]}")
        )
        assert (code, out, err) == (
            0,
            f"nothing held about a pupil with this UPN at school {SCHOOL} (30 un-named "
            f"records for the school in general); wrote {tmp_path / f'ivy{SUFFIXES[fmt]}'}\n",
            "",
        )
    figures = [{"academic_year": academic_year_label(today), "rule": "subscription_ended", "records": 30}]
    document = read_json(tmp_path / "ivy.json")
    assert list(document) == ["report", "unnamed_figures"]
    assert document["unnamed_figures"] == figures
    assert (document["report"]["found"], document["report"]["sections"]) == (False, {"unnamed_figures": 1})
    statement = document["report"]["statement"]
    assert statement.startswith("Nothing held: no named data is held about a pupil with this UPN at ")
    assert (
        "The school has 30 un-named records in total (listed below); none of them can be said to be this pupil's."
        in statement
    )
    tables = read_csv_zip(tmp_path / "ivy.zip")
    assert list(tables) == ["report.csv", "unnamed_figures.csv"]
    assert tables["unnamed_figures.csv"] == [{k: str(v) for k, v in row.items()} for row in figures]
    text = pdf_text(tmp_path / "ivy.pdf")
    assert "Nothing held: no named data is held about a pupil with this UPN" in text
    assert (
        f"1. Un-named figures held for the school School year Why the named data was removed Records "
        f"{academic_year_label(today)} the school's subscription ended 30" in text
    )
    everything = (
        (tmp_path / "ivy.json").read_text(encoding="utf-8") + text + json.dumps(tables, ensure_ascii=False)
    )
    named = pii_strings(population) - {ivy.upn}  # the UPN asked about is repeated back, nothing else
    assert sorted(v for v in named if v in everything) == []
    assert [e["detail"] for e in read_audit(engine, school_urn=SCHOOL, action="subject_access_report")] == [
        {"format": fmt, "found": False, "sections": {"unnamed_figures": 1}} for fmt in ("json", "csv", "pdf")
    ]


def test_an_unknown_upn_gets_a_nothing_held_answer_and_bad_requests_a_one_line_reason(
    simulator, registry, engine, tmp_path, capsys
):
    unknown = make_upn("999", "9999", 2020, 1)
    code, out, err = sar(
        capsys, SCHOOL, "--upn", unknown, "--format", "pdf", "--out", str(tmp_path / "sar.pdf")
    )
    assert (code, out, err) == (
        0,
        f"nothing held about a pupil with this UPN at school {SCHOOL} (0 un-named records "
        f"for the school in general); wrote {tmp_path / 'sar.pdf'}\n",
        "",
    )
    text = pdf_text(tmp_path / "sar.pdf")
    assert f"UPN asked about {unknown} School " in text
    assert "Nothing held: no named data is held about a pupil with this UPN" in text
    assert "The school has no un-named records; none of them can be said to be this pupil's." in text
    assert "1. Un-named figures held for the school None." in text
    assert oct((tmp_path / "sar.pdf").stat().st_mode & 0o777) == "0o600"

    refusals = [
        (
            ("999999", "--upn", unknown),
            "school 999999 is not registered (see `mis-pipeline schools list`; "
            "`mis-pipeline schools discover` registers the schools that approved us)",
        ),
        ((SCHOOL, "--upn", unknown[:-1]), "a UPN has 13 letters and digits; check the one given"),
        (
            (SCHOOL, "--upn", unknown, "--format", "pdf", "--out", str(tmp_path / "sar.pdf")),
            "the output file already exists; not overwriting it",
        ),
        (
            (SCHOOL, "--upn", unknown, "--out", str(tmp_path / "nowhere" / "sar.json")),
            "the output file's folder does not exist",
        ),
        (
            (SCHOOL, "--upn", unknown, "--format", "csv", "--out", str(tmp_path / "sar.csv")),
            "--format csv writes a zip of CSV files, one per section: name the output file *.zip (got sar.csv)",
        ),
        (
            (SCHOOL, "--upn", unknown, "--out", str(tmp_path / "sar.pdf")),
            "--format json writes a JSON file: name the output file *.json (got sar.pdf)",
        ),
    ]
    for argv, reason in refusals:
        argv = argv if "--out" in argv else (*argv, "--out", str(tmp_path / "refused.json"))
        assert sar(capsys, *argv) == (2, "", f"mis-pipeline: {reason}\n")
    assert [e["detail"] for e in read_audit(engine, action="subject_access_report")] == [
        {"format": "pdf", "found": False, "sections": {"unnamed_figures": 0}}
    ]


@SQLITE
def test_the_upn_can_come_from_standard_input_so_it_stays_out_of_the_process_list(
    simulator, registry, tmp_path
):
    unknown = make_upn("999", "9999", 2020, 2)
    script = (
        "import argparse, sys\n"
        "from mis_pipeline.cli.sar_command import add_sar_parser\n"
        "parser = argparse.ArgumentParser(prog='mis-pipeline')\n"
        "add_sar_parser(parser.add_subparsers(dest='command', required=True))\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "sys.exit(args.handler(args))\n"
    )
    out = tmp_path / "sar.json"
    result = subprocess.run(
        [sys.executable, "-c", script, "sar", SCHOOL, "--upn", "-", "--out", str(out)],
        input=f"{unknown}\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert unknown not in result.stdout
    report = read_json(out)["report"]
    assert (report["found"], report["upn_searched"]) == (False, unknown)
