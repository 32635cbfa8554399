"""The school discovery sensor, evaluated with Dagster's sensor context on a real instance against
the simulator, and the discovery run it asks for executed there."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import dagster as dg
import pytest

from mis_pipeline.cli.runs import run_job
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.registry.jobs import DISCOVER_SCHOOLS_JOB
from mis_pipeline.registry.sensors import (
    DiscoveryCursor,
    Listing,
    differences,
    school_discovery_sensor,
)
from mis_pipeline.registry.store import RegisteredSchool, list_schools
from mis_pipeline.resources import build_resources

SQLITE = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


def evaluate(instance, cursor: str | None = None, **resources):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={**build_resources(), **resources}
    )
    return school_discovery_sensor.evaluate_tick(context)


def school(urn: str, connector: str, school_id: str, approval: str = "approved") -> RegisteredSchool:
    return RegisteredSchool(
        urn, connector, school_id, f"School {urn}", approval, ("students",), "automatic", False
    )


def test_the_sensor_looks_every_hour_and_is_on_by_default():
    assert school_discovery_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert school_discovery_sensor.minimum_interval_seconds == 3600
    assert school_discovery_sensor.job_name == DISCOVER_SCHOOLS_JOB


# ── differences ──────────────────────────────────────────────────────────────────────────────
REGISTERED = [
    school("100001", "wonde", "A1"),
    school("100002", "xod", "2040001"),
    school("100003", "wonde", "A3", approval="not_listed"),
]


@pytest.mark.parametrize(
    "listed, partitions, expected",
    [
        (Listing(frozenset({"A1"}), frozenset({"2040001"})), ["100001", "100002"], []),
        (
            Listing(frozenset({"A1", "A9"}), frozenset({"2040001"})),
            ["100001", "100002"],
            ["1 Wonde schools listed but not registered"],
        ),
        (
            Listing(frozenset({"A1", "A3"}), frozenset({"2040001"})),
            ["100001", "100002"],
            ["1 Wonde schools listed but not registered"],
        ),  # listed again after it was revoked
        (
            Listing(frozenset(), frozenset({"2040001"})),
            ["100001", "100002"],
            ["1 Wonde schools registered but no longer listed"],
        ),
        (
            Listing(frozenset({"A1"}), frozenset({"2040001", "2040005"})),
            ["100001", "100002"],
            ["1 XoD schools listed but not registered"],
        ),
        (
            Listing(frozenset({"A1"}), frozenset()),
            ["100001", "100002"],
            ["1 XoD schools registered but no longer listed"],
        ),
        (
            Listing(frozenset({"A1"}), frozenset({"2040001"})),
            ["100001"],
            ["1 registered schools without a partition"],
        ),
    ],
)
def test_differences_say_what_discovery_would_change_in_counts(listed, partitions, expected):
    assert differences(listed, REGISTERED, partitions) == expected


def test_the_discovery_cursor_round_trips_and_an_unreadable_one_is_empty():
    cursor = DiscoveryCursor("ab12", "2026-11-30")
    assert DiscoveryCursor.parse(cursor.to_json()) == cursor
    assert DiscoveryCursor.parse("not json") == DiscoveryCursor.parse(None) == DiscoveryCursor()


# ── against the simulator ────────────────────────────────────────────────────────────────────
@SQLITE
def test_a_registry_in_step_is_left_alone_and_a_missing_partition_brings_one_discovery_run(
    registry, simulator
):
    simulator.clear_request_log()
    in_step = evaluate(registry)
    assert (in_step.run_requests, in_step.skip_message) == (
        [],
        "the connectors' approved schools match the registry",
    )
    # The tick reads Wonde's approved list only: no school (pending and declined ones least of all) is contacted.
    assert {(r.method, r.path) for r in simulator.request_log} == {("GET", "/v1.0/schools")}

    registry.delete_dynamic_partition("schools", "100266")
    missing = evaluate(registry, in_step.cursor)
    [request] = missing.run_requests
    listing_digest = json.loads(missing.cursor)["digest"]
    assert request.run_key == f"discover-{json.loads(missing.cursor)['day']}-{listing_digest[:16]}"
    assert request.tags["mis/trigger"] == "school_discovery_sensor"
    assert run_job(registry, DISCOVER_SCHOOLS_JOB, request.run_config, tags=request.tags).success
    assert "100266" in registry.get_dynamic_partitions("schools")
    assert (
        evaluate(registry, missing.cursor).skip_message
        == "the connectors' approved schools match the registry"
    )


@SQLITE
def test_a_school_gone_from_the_xod_secrets_brings_one_discovery_run_that_stops_its_syncs(
    registry, engine, tmp_path, monkeypatch
):
    secrets = json.loads(Path(os.environ["XPORTER_SCHOOL_SECRETS"]).read_text(encoding="utf-8"))
    del secrets["9254011"]  # school 100429 withdrew from XoD
    reduced = tmp_path / "secrets.json"
    reduced.write_text(json.dumps(secrets))
    monkeypatch.setenv("XPORTER_SCHOOL_SECRETS", str(reduced))

    first = evaluate(registry)
    assert len(first.run_requests) == 1
    # Until it has run, the same listing is not handed over again the same day.
    assert evaluate(registry, first.cursor).skip_message == (
        "already handed this listing to discovery today (1 XoD schools registered but no longer listed)"
    )
    # The next day it is handed over again (a school that could not be registered is looked at daily).
    yesterday = DiscoveryCursor(json.loads(first.cursor)["digest"], "2026-11-29").to_json()
    assert len(evaluate(registry, yesterday).run_requests) == 1

    assert run_job(registry, DISCOVER_SCHOOLS_JOB, tags=first.run_requests[0].tags).success
    [withdrawn] = [s for s in list_schools(engine) if s.urn == "100429"]
    assert withdrawn.blocker() == "access revoked at the connector (no longer listed as approved)"
    assert (
        evaluate(registry, first.cursor).skip_message == "the connectors' approved schools match the registry"
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


@SQLITE
def test_a_connector_that_cannot_be_read_skips_the_tick_and_no_school_is_taken_to_be_gone(
    registry, engine, tmp_path
):
    before = list_schools(engine)
    unreachable = WondeResource(
        api_url=f"http://127.0.0.1:{closed_port()}/v1.0",
        api_token="sim-token",
        max_retries=1,
        backoff_factor=0,
        requests_per_second=0,
    )
    wonde_down = evaluate(registry, wonde=unreachable)
    assert wonde_down.run_requests == []
    assert wonde_down.skip_message.startswith("the connectors' approved schools could not be read (")
    assert wonde_down.skip_message.endswith("); the registry stays as it is")

    garbled = tmp_path / "secrets.json"
    garbled.write_text("{not json")
    xod_down = evaluate(
        registry, xod=XodResource(relying_party="mis-pipeline.local", school_secrets_path=str(garbled))
    )
    assert xod_down.run_requests == []
    assert xod_down.skip_message == (
        "the connectors' approved schools could not be read (the XoD school secrets "
        "file is not a readable JSON object); the registry stays as it is"
    )
    no_token = evaluate(registry, wonde=WondeResource(api_token=""))
    assert no_token.skip_message == (
        "WONDE_API_TOKEN is not set, so Wonde's approved schools cannot be read; "
        "the registered Wonde schools are not taken to have gone"
    )
    assert list_schools(engine) == before
