"""XoD errors under HTTP 200 (connectors.md §2.6) are classified: transient ones are asked again
with backoff inside the run, a refused data item fails that item alone, anything else fails the
school. Against the simulator over HTTP, with the error body injected on one endpoint."""

from __future__ import annotations

import pytest

from mis_pipeline.connectors.errors import ConnectorUnavailableError
from mis_pipeline.connectors.xod.client import (
    FAILED,
    REFUSED,
    TRANSIENT,
    XodResponseError,
    classify_exception,
)
from mis_pipeline.sync.runner import sync_school
from mis_pipeline.sync.sources import XodSource
from mis_pipeline_tests.sync.test_sync_connectors import TOKEN, registered, sources_for
from mis_simulator.faults import Fault
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer
from mis_simulator.xod_api import DENIED_MESSAGE, UNKNOWN_CHANGESET_MESSAGE, estab_of


@pytest.mark.parametrize(
    "message, kind",
    [
        ("The MIS is currently unavailable", TRANSIENT),
        ("The school's server is not responding", TRANSIENT),
        ("The operation has timed out", TRANSIENT),
        ("Request timeout", TRANSIENT),
        ("The 'Attendance' scope has not been authorised for this estab", REFUSED),
        (DENIED_MESSAGE, REFUSED),
        ("Something went wrong", FAILED),
        (UNKNOWN_CHANGESET_MESSAGE, FAILED),
        (None, FAILED),
    ],
)
def test_an_exception_message_is_classified(message, kind):
    assert classify_exception(message) == kind


@pytest.fixture
def xod_school(tmp_path, monkeypatch):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(17, 6, 8)
    school = next(
        s for s in population.approved_schools() if s.connector == "xod" and all(s.permissions.values())
    )
    with SimulatorServer(population, token=TOKEN, retry_after_seconds=0).start() as server:
        sources = sources_for(server, population, tmp_path)
        sources["xod"] = XodSource(sources["xod"].xod.model_copy(update={"backoff_factor": 0.0}))
        yield server, sources, school


def test_a_transient_error_body_is_asked_again_and_the_school_lands_whole(xod_school, engine, vault):
    server, sources, school = xod_school
    server.faults.extend(
        [Fault(kind="xod_error", message="The MIS is currently unavailable", path_contains="/Students")] * 2
    )
    outcome = sync_school(engine, vault, sources, registered(school, "xod"), run_id=None)
    assert (outcome.status, outcome.not_authorised, outcome.counts["pupils"].inserted) == (
        "synced",
        (),
        len(school.pupils) + len(school.leavers),
    )
    assert len(server.faults) == 0


def test_a_transient_error_that_persists_fails_the_school_as_unavailable(xod_school):
    server, sources, school = xod_school
    server.faults.extend([Fault(kind="xod_error", message="Request timeout", path_contains="/Groups")] * 5)
    with pytest.raises(
        ConnectorUnavailableError, match=f"estab {estab_of(school)}: XoD reported Groups unavailable"
    ):
        list(sources["xod"].xod.iter_group_pages(estab_of(school)))


def test_a_refused_item_fails_alone_with_its_reason_and_the_schools_other_items_land(
    xod_school, engine, vault
):
    server, sources, school = xod_school
    server.faults.extend(
        [
            Fault(
                kind="xod_error",
                message="The 'Attendance' scope has not been authorised for this estab",
                path_contains="/AttendanceForDateRange",
            )
        ]
    )
    outcome = sync_school(engine, vault, sources, registered(school, "xod"), run_id=None)
    assert (outcome.status, outcome.not_authorised) == ("synced", ("attendance_sessions",))
    assert outcome.refusals == (
        f"estab {estab_of(school)}: XoD refused AttendanceForDateRange: "
        "the school has not authorised this data item (scope)",
    )
    assert set(outcome.counts) == {"pupils", "pupil_details", "assessment_results", "pupil_groups"}
    assert all(outcome.counts[d].inserted > 0 for d in outcome.counts)


def test_an_unclassified_error_body_fails_the_read(xod_school):
    server, sources, school = xod_school
    server.faults.extend([Fault(kind="xod_error", path_contains="/Groups")])
    with pytest.raises(XodResponseError):
        list(sources["xod"].xod.iter_group_pages(estab_of(school)))
