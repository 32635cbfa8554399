"""Encryption at rest, seen the way an attacker with a copy of the database would see it: a full
dump (sqlite `.dump`, `pg_dump`) after a real sync holds no pupil name, UPN or date of birth in
clear, while the product, holding the master key, reads every value back exactly."""

from __future__ import annotations

import re
import sqlite3
import subprocess

import sqlalchemy as sa

from mis_pipeline.cli.launch import run_sync
from mis_pipeline.warehouse.reader import read_pupils, read_quarantine
from mis_pipeline_tests.pii import two_bad_records


def dump(url: str) -> tuple[str, str]:
    """The database as its dump tool writes it, and every binary value in it decoded (dumps show
    them as hex, which hides nothing from an attacker)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(parsed.database) as conn:
            text = "\n".join(conn.iterdump())
        blobs = re.findall(r"X'([0-9A-Fa-f]*)'", text)
    else:
        text = subprocess.run(
            [
                "pg_dump",
                "--no-owner",
                "-h",
                parsed.host,
                "-p",
                str(parsed.port or 5432),
                "-U",
                parsed.username,
                parsed.database,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        blobs = re.findall(r"\\\\x([0-9a-f]*)", text)
    assert blobs, "the dump holds sealed values"
    return text, "\n".join(bytes.fromhex(b).decode("utf-8", errors="replace") for b in blobs)


def whole_word(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(value)}(?![\w])", text) is not None


def dates_held_in_clear(engine) -> set[str]:
    """Dates the agreement lets us hold unsealed (admission, leaving, sessions, results): a date of
    birth equal to one of these is not evidence of a leak, so it is left out of the check."""
    held = set()
    with engine.connect() as conn:
        for table, column in (
            ("pupils", "admission_date"),
            ("pupils", "leaving_date"),
            ("attendance_sessions", "session_date"),
            ("assessment_results", "result_date"),
        ):
            held |= {
                str(v) for v in conn.execute(sa.text(f"SELECT DISTINCT {column} FROM {table}")).scalars() if v
            }
    return held


def reference_text(population) -> str:
    """Non-pupil text that is meant to be in the dump (school, LA, trust and diocese names)."""
    return " ".join(f"{s.name} {s.trust_name or ''} {s.diocese_name or ''}" for s in population.schools)


def test_a_dump_after_a_full_sync_holds_no_name_upn_or_birth_date_in_clear(
    simulator, population, registry, instance, vault, engine, warehouse_url
):
    with two_bad_records(simulator, population.approved_schools()[0]):  # quarantine is dumped too
        assert run_sync(instance).success
    text, binary = dump(warehouse_url)
    assert "CREATE TABLE" in text and "pupils" in text

    pupils = [p for s in population.approved_schools() for p in s.pupils]
    assert [p.upn for p in pupils if p.upn in text + binary] == []
    names = {
        n
        for p in pupils
        for n in (p.legal_forename, p.legal_surname, p.forename, p.surname, p.middle_names)
        if n
    }
    expected_words = reference_text(population)
    assert sorted(n for n in names if whole_word(n, text) and not whole_word(n, expected_words)) == []
    # Ciphertext is random bytes, which spell a short name now and then by chance; plaintext would
    # also spell the longer names and the contract's own field names.
    assert sorted(n for n in names if len(n) >= 6 and n in binary) == []
    assert [
        field
        for field in ("legal_forename", "legal_surname", "date_of_birth", "former_upn")
        if field in binary
    ] == []
    explained = dates_held_in_clear(engine)
    births = {p.date_of_birth.isoformat() for p in pupils}
    checked = births - explained
    assert len(checked) > 0.8 * len(births)  # the check is not emptied by coincidences
    assert sorted(d for d in checked if d in text + binary) == []


def test_the_product_reads_every_value_back_exactly(simulator, population, registry, instance, vault, engine):
    school = population.approved_schools()[0]
    with two_bad_records(simulator, school) as originals:
        assert run_sync(instance).success
    held = {(p["school_urn"], p["mis_id"]): p for p in read_pupils(engine, vault)}
    served = {(s.urn, p.mis_id): (s.connector, p) for s in population.approved_schools() for p in s.pupils}
    del served[school.urn, originals[0].mis_id], served[school.urn, originals[1].mis_id]  # quarantined
    assert set(held) == set(served)
    for key, (connector, pupil) in served.items():
        row = held[key]
        assert (
            row["upn"],
            row["former_upn"],
            row["legal_forename"],
            row["legal_surname"],
            row["forename"],
            row["surname"],
            row["middle_names"],
            row["date_of_birth"],
            row["connector"],
        ) == (
            pupil.upn,
            pupil.former_upn,
            pupil.legal_forename,
            pupil.legal_surname,
            pupil.forename,
            pupil.surname,
            pupil.middle_names,
            pupil.date_of_birth,
            connector,
        )
        if connector == "wonde":  # XoD has ids of its own
            assert (row["connector_pupil_id"], row["upi"]) == (pupil.id, pupil.upi)
    quarantined = {
        (q["rule"], q["record"]["upn"], q["record"]["legal_surname"])
        for q in read_quarantine(engine, vault, school.urn)
        if q["dataset"] == "pupils"
    }
    wrong_letter_upn = ("A" if originals[0].upn[0] != "A" else "B") + originals[0].upn[1:]
    assert quarantined == {
        (
            "upn: not a valid UPN (13 characters, DfE check letter)",
            wrong_letter_upn,
            originals[0].legal_surname,
        ),
        ("date_of_birth: missing", originals[1].upn, originals[1].legal_surname),
    }
