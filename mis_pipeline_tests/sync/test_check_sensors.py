"""Which schools' checks a finished sync run asks for (from its tags alone)."""

from __future__ import annotations

import dagster as dg
import pytest

from mis_pipeline.sync.check_sensors import CHECK_AFTER_SYNC, check_run_request

RANGE = {"dagster/asset_partition_range_start": "100001", "dagster/asset_partition_range_end": "100009"}


@pytest.mark.parametrize(
    "tags, wanted",
    [
        ({**RANGE, "mis/trigger": "nightly_sync_schedule"}, RANGE),
        ({"dagster/partition": "100004", "mis/trigger": "ui"}, {"dagster/partition": "100004"}),
    ],
)
def test_a_sync_run_from_the_ui_or_automation_gets_the_checks_of_exactly_its_schools(tags, wanted):
    request = check_run_request(dg.DagsterRun(job_name="sync_schools", run_id="r1", tags=tags))
    assert request.tags == {**wanted, "mis/trigger": CHECK_AFTER_SYNC}
    assert request.run_key == "checks-after-r1"


@pytest.mark.parametrize("tags", [{**RANGE, "mis/trigger": "cli:sync"}, {"mis/trigger": "ui"}])
def test_a_cli_sync_which_checks_its_own_schools_or_a_run_without_schools_asks_for_nothing(tags):
    assert isinstance(
        check_run_request(dg.DagsterRun(job_name="sync_schools", run_id="r1", tags=tags)), dg.SkipReason
    )
