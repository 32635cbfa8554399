"""Deletions and leavers through the real clients after `SimulatorServer.advance()`: Wonde's
`deletions` and `students-leaver` (`wonde_datasets`), and XoD's changedRows with includeLeavers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mis_pipeline.connectors.errors import NotAuthorisedError
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.wonde.datasets import iter_deletion_pages, iter_leaver_pages
from mis_pipeline.connectors.wonde.normalise import normalise_wonde_student
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.connectors.xod.normalise import normalise_xod_student
from mis_pipeline_tests.simulator.support import SEED, TOKEN, wonde_schools, xod_schools
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import estab_of, write_xod_secrets

AT1 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
AT2 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture()
def running(loopback_allowed):
    with SimulatorServer(build_population(SEED, 6, 20), token=TOKEN) as server:
        yield server


def wonde_client(server) -> WondeResource:
    return WondeResource(
        api_url=server.wonde_url,
        api_token=TOKEN,
        per_page=2,
        backoff_factor=0.01,
        max_retries=3,
        requests_per_second=0,
    )


def rows(pages) -> list[dict]:
    return [row for page in pages for row in page]


def test_wonde_deletion_and_leaver_pages_after_advance(running):
    population = running.population
    school = wonde_schools(population)[1]
    wonde = wonde_client(running)
    assert rows(iter_deletion_pages(wonde, school.id)) == []
    assert rows(iter_leaver_pages(wonde, school.id)) == []
    first = running.advance(at=AT1).schools[school.urn]
    second = running.advance(at=AT2).schools[school.urn]
    deletions = rows(iter_deletion_pages(wonde, school.id))  # per_page 2: several pages
    assert [(d["type"], d["mis_id"]) for d in deletions] == [
        ("student", m) for m in first.deleted + second.deleted
    ]
    assert deletions[0]["restored_at"] is not None and deletions[-1]["restored_at"] is None
    recent = rows(iter_deletion_pages(wonde, school.id, updated_after=AT2 - timedelta(seconds=1)))
    assert [d["mis_id"] for d in recent] == first.deleted + second.deleted  # the restore, then the deletion
    assert rows(iter_deletion_pages(wonde, school.id, updated_after=AT2)) == []

    leavers = [normalise_wonde_student(row, school.urn) for row in rows(iter_leaver_pages(wonde, school.id))]
    assert [row["mis_id"] for row in leavers] == first.left + second.left
    truth = {p.mis_id: p for p in school.leavers}
    for row in leavers:
        assert row["leaving_date"] == truth[row["mis_id"]].leaving_date is not None
        assert row["upn"] == truth[row["mis_id"]].upn
    latest = rows(iter_leaver_pages(wonde, school.id, updated_after=AT2 - timedelta(seconds=1)))
    assert [row["mis_id"] for row in latest] == second.left
    sent = [r.query for r in running.request_log if r.path.endswith("/students-leaver")]
    assert sent and all(q["include"] == ["education_details"] for q in sent)


def test_wonde_deletions_of_an_xod_school_are_not_authorised(running):
    with pytest.raises(NotAuthorisedError):
        list(iter_deletion_pages(wonde_client(running), xod_schools(running.population)[0].id))


def test_xod_student_changes_after_advance_carry_leavers_as_rows_and_deletions_as_ids(running, tmp_path):
    population = running.population
    school = xod_schools(population)[0]
    estab = estab_of(school)
    client = XodResource(
        api_url=running.xod_url,
        relying_party=running.xod_relying_party,
        page_size=4,
        requests_per_second=0,
        backoff_factor=0.01,
        school_secrets_path=str(write_xod_secrets(population, tmp_path / "secrets.json")),
    )
    full = client.student_changes(estab, None)
    assert len(rows(full.pages())) == 20
    cursor = full.next_cursor
    for at in (AT1, AT2):
        changes = running.advance(at=at).schools[school.urn]
        delta = client.student_changes(estab, cursor)
        changed = {
            row["mis_id"]: row
            for row in (normalise_xod_student(raw, school.urn) for raw in rows(delta.pages()))
        }
        assert set(changed) == set(changes.new) | set(changes.changed) | set(changes.left) | set(
            changes.restored
        )
        assert delta.deleted_ids == changes.deleted
        for mis_id in changes.left:
            leaver = next(p for p in school.leavers if p.mis_id == mis_id)
            assert changed[mis_id]["leaving_date"] == leaver.leaving_date
        for mis_id in changes.new:
            assert changed[mis_id]["leaving_date"] is None and changed[mis_id]["date_of_birth"] is not None
        cursor = delta.next_cursor
    students = [r for r in running.request_log if r.path.endswith("/Students")]
    assert students and all(r.query.get("options") == ["includeLeavers"] for r in students)
