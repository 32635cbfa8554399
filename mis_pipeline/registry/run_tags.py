"""The tags every run carries, and who a run acts for: read by the UI's run list, the audit log and
the run queue's limits. Names only, no pupil values.

Who and why, on every run: the command or automation that started it (`cli:sync`, a schedule or
sensor's name, `ui` for the launchpad), the person (config.operator_name()) and the schools it
covers. Runs over a range of school partitions use Dagster's own range tags.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mis_pipeline.config import operator_name

RANGE_START, RANGE_END = ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG
TRIGGER_TAG, OPERATOR_TAG = "mis/trigger", "mis/operator"
SCHOOL_COUNT_TAG, SCHOOL_RANGE_TAG, SCHOOL_NAMES_TAG = "mis/schools", "mis/school_range", "mis/school_names"
SCHEDULE_TAG, SENSOR_TAG = "dagster/schedule_name", "dagster/sensor_name"
NAMES_SHOWN = 5  # a tag is read at a glance: the first few names, then how many more


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make a run cover the partitions first..last (one run, single-run backfill)."""
    return {RANGE_START: first, RANGE_END: last}


def school_tags(urns: list[str], names: dict[str, str]) -> dict[str, str]:
    """Tags naming the schools a run covers: how many, the URN range, and the first few names
    (school names are public, from GIAS; nothing about a pupil)."""
    if not urns:
        return {SCHOOL_COUNT_TAG: "0"}
    shown = [f"{urn} {names.get(urn, '(not registered)')}" for urn in urns[:NAMES_SHOWN]]
    more = f"; +{len(urns) - NAMES_SHOWN} more" if len(urns) > NAMES_SHOWN else ""
    return {
        SCHOOL_COUNT_TAG: str(len(urns)),
        SCHOOL_RANGE_TAG: f"{urns[0]}..{urns[-1]}",
        SCHOOL_NAMES_TAG: "; ".join(shown) + more,
    }


def who_and_why(trigger: str) -> dict[str, str]:
    """The trigger and operator tags of a run a person or automation starts."""
    return {TRIGGER_TAG: trigger, OPERATOR_TAG: operator_name()}


def run_actor(tags: Mapping[str, str]) -> str:
    """Who acts in a Dagster run, for its audit entries: the schedule or sensor that started it
    ("schedule nightly_sync_schedule"), else the operator the run is tagged with, else the operator
    of this process (`operator_name()`: a CLI run executes in the CLI's own process)."""
    if tags.get(SCHEDULE_TAG):
        return f"schedule {tags[SCHEDULE_TAG]}"
    if tags.get(SENSOR_TAG):
        return f"sensor {tags[SENSOR_TAG]}"
    return tags.get(OPERATOR_TAG) or operator_name()
