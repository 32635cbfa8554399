"""A permission a school approved at Wonde that maps to no data item is reported, never silently
ignored: in the registry asset's warning check, in `status` and in the discovery listing."""

from __future__ import annotations

import dagster as dg

from mis_pipeline.cli.status import school_status
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.registry.assets import (
    PERMISSIONS_CHECK,
    every_granted_permission_understood,
    school_registry,
)
from mis_pipeline.registry.listing import render_schools, school_listing
from mis_pipeline.warehouse.resource import WarehouseResource
from mis_simulator.population import build_population
from mis_simulator.server import SimulatorServer

TOKEN = "sim-token"


def test_a_granted_permission_the_product_does_not_understand_is_reported(
    warehouse_url, engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("MIS_ALLOW_LOOPBACK_HTTP", "1")
    population = build_population(19, 3, 4)
    odd = next(s for s in population.approved_schools() if s.connector == "wonde")
    odd.permissions["behaviours.read"] = True
    instance = dg.DagsterInstance.ephemeral()
    (tmp_path / "none.json").write_text("{}")  # no XoD school: this is about Wonde's permissions
    with SimulatorServer(population, token=TOKEN).start() as server:
        result = dg.materialize(
            [school_registry, every_granted_permission_understood],
            instance=instance,
            resources={
                "wonde": WondeResource(api_url=server.wonde_url, api_token=TOKEN, requests_per_second=0),
                "xod": XodResource(
                    api_url=server.xod_url,
                    relying_party="mis-pipeline.local",
                    school_secrets_path=str(tmp_path / "none.json"),
                    requests_per_second=0,
                ),
                "warehouse": WarehouseResource(),  # MIS_DATABASE_URL: the warehouse under test
            },
        )
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.severity) == (
        PERMISSIONS_CHECK,
        False,
        dg.AssetCheckSeverity.WARN,
    )
    assert check.metadata["not_understood"].value == {odd.urn: ["behaviours.read"]}
    status = {entry["urn"]: entry["unrecognised_permissions"] for entry in school_status(engine)}
    assert status[odd.urn] == ["behaviours.read"]
    assert [urn for urn, odd_ones in status.items() if odd_ones] == [odd.urn]
    assert (
        render_schools(school_listing(engine)).splitlines()[-1]
        == f"{odd.urn}: granted but not understood: behaviours.read"
    )
