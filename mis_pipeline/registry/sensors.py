"""The school discovery sensor: a discovery run when the connectors' approved schools differ from
the registry and its partitions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

from mis_pipeline.connectors.errors import ConnectorError
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import XodResource
from mis_pipeline.lib.dates import london_today
from mis_pipeline.registry.jobs import discover_schools_job
from mis_pipeline.registry.partitions import SCHOOLS
from mis_pipeline.registry.run_tags import TRIGGER_TAG
from mis_pipeline.registry.store import RegisteredSchool, list_schools
from mis_pipeline.warehouse.resource import WarehouseResource

SCHOOL_DISCOVERY_SENSOR = "school_discovery_sensor"
TICK_INTERVAL_SECONDS = 3600


@dataclass(frozen=True)
class Listing:
    """Who the connectors say has approved us: Wonde school ids, XoD estabs (no secrets)."""

    wonde: frozenset[str]
    xod: frozenset[str]

    def digest(self, found: list[str]) -> str:
        """Identifies this listing together with the differences found against it."""
        text = json.dumps({"wonde": sorted(self.wonde), "xod": sorted(self.xod), "found": sorted(found)})
        return hashlib.sha256(text.encode()).hexdigest()


def registered_listing(schools: Iterable[RegisteredSchool]) -> Listing:
    """The same view from the registry: schools registered and still approved, per connector."""
    approved = [s for s in schools if s.approval_state == "approved"]
    return Listing(
        frozenset(s.connector_school_id for s in approved if s.connector == "wonde"),
        frozenset(s.connector_school_id for s in approved if s.connector == "xod"),
    )


def differences(listed: Listing, schools: list[RegisteredSchool], partitions: Iterable[str]) -> list[str]:
    """What discovery would change, as counts (never a school's name): schools newly listed,
    schools no longer listed, and registered schools with no partition. Empty when nothing."""
    registered = registered_listing(schools)
    found = []
    for connector, now, before in (
        ("Wonde", listed.wonde, registered.wonde),
        ("XoD", listed.xod, registered.xod),
    ):
        if now - before:
            found.append(f"{len(now - before)} {connector} schools listed but not registered")
        if before - now:
            found.append(f"{len(before - now)} {connector} schools registered but no longer listed")
    missing = {s.urn for s in schools if s.approval_state == "approved"} - set(partitions)
    if missing:
        found.append(f"{len(missing)} registered schools without a partition")
    return found


@dataclass(frozen=True)
class DiscoveryCursor:
    """The listing (with its differences) last handed to discovery, and the day (in England) it
    was handed over; empty while the registry is in step."""

    digest: str | None = None
    day: str | None = None

    def to_json(self) -> str:
        return json.dumps({"digest": self.digest, "day": self.day}, sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> DiscoveryCursor:
        try:
            loaded = json.loads(text) if text else {}
        except ValueError:
            return cls()
        return cls(loaded.get("digest"), loaded.get("day")) if isinstance(loaded, dict) else cls()


def read_listing(wonde: WondeResource, xod: XodResource) -> Listing:
    """The connectors' lists, read cheaply: Wonde's approved schools (a page per 200 schools;
    pending and declined schools are in other lists, never read), XoD's estabs from the secrets
    file (no request). Raises ConnectorError when either cannot be read."""
    wonde_ids = (
        frozenset(str(s["id"]) for s in wonde.iter_approved_schools()) if wonde.api_token else frozenset()
    )
    return Listing(wonde_ids, frozenset(xod.school_estabs()))


@dg.sensor(
    name=SCHOOL_DISCOVERY_SENSOR,
    job=discover_schools_job,
    minimum_interval_seconds=TICK_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Hourly: compares the connectors' approved schools with the registry and its partitions, and "
    "requests one discover_schools run when they differ.",
)
def school_discovery_sensor(
    context: dg.SensorEvaluationContext, wonde: WondeResource, xod: XodResource, warehouse: WarehouseResource
):
    """Keep the registry and the `schools` partitions in step with the connectors.

    Every hour it reads who has approved us (Wonde's approved-schools list, the estabs in the XoD
    secrets file) and compares it with the registry's approved schools and the partitions; when
    they differ it requests one `discover_schools` run, whose asset applies the difference in one
    set difference (new partitions added, schools no longer listed marked and no longer synced).
    A listing it has already handed over is not handed over again the same day (a school that
    cannot be registered, e.g. paused at XoD or without a GIAS row, would otherwise ask every
    hour), so such schools are looked at again daily. A connector that cannot be read skips the
    tick: a failed read is never taken to mean every school has gone. Pending and declined schools
    are never contacted. On by default: it reads one list page per 200 schools and the secrets
    file, contacts no school, and without it a newly approved school would never be synced.
    """
    schools = list_schools(warehouse.engine())
    if not wonde.api_token and any(
        s.connector == "wonde" and s.approval_state == "approved" for s in schools
    ):
        return dg.SkipReason(
            "WONDE_API_TOKEN is not set, so Wonde's approved schools cannot be read; "
            "the registered Wonde schools are not taken to have gone"
        )
    try:
        listed = read_listing(wonde, xod)
    except ConnectorError as error:  # connector messages name the endpoint only, never a secret
        return dg.SkipReason(
            f"the connectors' approved schools could not be read ({error}); the registry stays as it is"
        )
    found = differences(listed, schools, context.instance.get_dynamic_partitions(SCHOOLS.name))
    if not found:  # nothing handed over: a later difference, even the same day, is acted on
        return dg.SensorResult(
            skip_reason="the connectors' approved schools match the registry",
            cursor=DiscoveryCursor().to_json(),
        )
    handed = DiscoveryCursor(listed.digest(found), london_today().isoformat())
    if DiscoveryCursor.parse(context.cursor) == handed:
        return dg.SkipReason(f"already handed this listing to discovery today ({'; '.join(found)})")
    context.log.info("discovery needed: " + "; ".join(found))
    return dg.SensorResult(
        cursor=handed.to_json(),
        run_requests=[
            dg.RunRequest(
                run_key=f"discover-{handed.day}-{handed.digest[:16]}",
                tags={TRIGGER_TAG: SCHOOL_DISCOVERY_SENSOR},
            )
        ],
    )
