"""The school registry asset: which schools have approved us, and what each has granted."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from mis_pipeline.connectors.errors import ConnectorError, NotAuthorisedError
from mis_pipeline.connectors.wonde.client import WondeResource
from mis_pipeline.connectors.xod.client import SchoolPausedAtConnectorError, XodResource
from mis_pipeline.registry.discovery import wonde_school_entry, xod_school_entry
from mis_pipeline.registry.gias import read_gias
from mis_pipeline.registry.gias_store import gias_lookups, replace_gias
from mis_pipeline.registry.partitions import SCHOOLS, refresh_partner_partitions
from mis_pipeline.registry.store import list_schools, register_approved
from mis_pipeline.warehouse.resource import WarehouseResource

OWNERS = ["team:data-engineering"]
PERMISSIONS_CHECK = "every_granted_permission_understood"


def _xod_scopes(xod: XodResource, estab: str) -> tuple[str, frozenset[str] | None]:
    """("authorised", scopes), or the reason the school cannot be read now (never retried here)."""
    try:
        return "authorised", xod.granted_scopes(estab)
    except SchoolPausedAtConnectorError:
        return "paused_at_connector", None
    except ConnectorError:
        return "not_authorised", None


def _discover_xod(
    xod: XodResource, gias_by_la_estab: dict, paused: set[str]
) -> tuple[list, dict[str, list[str]]]:
    """XoD has no school list: the schools are those whose secret we hold. Returns the entries and,
    by reason, the estabs that could not be registered. A school paused by its own choice is not
    asked for a token (its stored grants stand)."""
    entries, left_out = [], {"paused_at_connector": [], "not_authorised": [], "no_gias_row": []}
    estabs = xod.school_estabs()
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="xod-scopes") as pool:
        answers = list(
            pool.map(
                lambda estab: ("authorised", frozenset()) if estab in paused else _xod_scopes(xod, estab),
                estabs,
            )
        )
    for estab, (state, scopes) in zip(estabs, answers, strict=True):
        if scopes is None:
            left_out[state].append(estab)
            continue
        entry = xod_school_entry(estab, scopes, gias_by_la_estab)
        if entry is None:
            left_out["no_gias_row"].append(estab)
        else:
            entries.append(entry)
    return entries, left_out


def _permissions(wonde: WondeResource, school_id: str) -> list[dict]:
    try:
        return wonde.get_permissions(school_id)
    except NotAuthorisedError:
        return []  # approved but nothing readable: the school grants no data item


@dg.asset(
    key="school_registry",
    group_name="registry",
    kinds={"python", "wonde", "xod"},
    owners=OWNERS,
    deps=["gias_establishments"],
)
def school_registry(
    context: dg.AssetExecutionContext, wonde: WondeResource, xod: XodResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Schools that have approved this service at the connector, with the data items each granted.

    Each approved school becomes a `schools` partition keyed by its URN. Schools the connector no
    longer lists (revoked or withdrawn) stay registered but are marked, so they are not synced and
    `status` flags them; pending and declined schools are never contacted for data. XoD has no
    school list: its schools are those whose secret we hold (`XPORTER_SCHOOL_SECRETS`), keyed by
    the URN of their GIAS row; one without a GIAS row is reported, never guessed.
    """
    engine = warehouse.engine()
    if not wonde.api_token:
        context.log.warning("WONDE_API_TOKEN is not set: no Wonde schools are read")
    paused = {(s.connector, s.connector_school_id) for s in list_schools(engine) if s.paused}
    approved = list(wonde.iter_approved_schools()) if wonde.api_token else []
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="permissions") as pool:
        # A school paused by its own choice receives no request; its stored grants stand.
        permissions = list(
            pool.map(
                lambda school: (
                    [] if ("wonde", str(school["id"])) in paused else _permissions(wonde, str(school["id"]))
                ),
                approved,
            )
        )
    entries = [wonde_school_entry(school, perms) for school, perms in zip(approved, permissions, strict=True)]
    keyed = [entry for entry in entries if entry is not None]
    wonde_without_urn = len(entries) - len(keyed)
    gone = register_approved(engine, keyed, connector="wonde")
    xod_entries, xod_left_out = _discover_xod(
        xod, gias_lookups(engine)[1], {i for c, i in paused if c == "xod"}
    )
    gone += register_approved(engine, xod_entries, connector="xod")
    for reason, estabs in xod_left_out.items():
        if estabs:
            context.log.warning(f"XoD schools not registered ({reason}): {', '.join(estabs)}")
    keyed += xod_entries

    existing = set(context.instance.get_dynamic_partitions(SCHOOLS.name))
    new_keys = sorted({entry.urn for entry in keyed} - existing)
    if new_keys:
        context.instance.add_dynamic_partitions(SCHOOLS.name, new_keys)
    context.log.info(f"{len(keyed)} approved schools; {len(new_keys)} new; {len(gone)} no longer listed")
    partners = refresh_partner_partitions(context.instance, engine)
    not_understood = {
        entry.urn: list(entry.unrecognised_permissions) for entry in keyed if entry.unrecognised_permissions
    }
    if not_understood:
        context.log.warning(
            f"permissions granted but not understood at {len(not_understood)} schools: "
            + "; ".join(f"{urn}: {', '.join(p)}" for urn, p in sorted(not_understood.items()))
        )
    return dg.MaterializeResult(
        metadata={
            "approved_schools": len(keyed),
            "new_partitions": len(new_keys),
            "no_longer_listed": dg.MetadataValue.json(gone),
            "wonde_without_urn": wonde_without_urn,
            "xod_schools": len(xod_entries),
            "xod_left_out": dg.MetadataValue.json(xod_left_out),
            "partners": len(partners),
            "permissions_not_understood": dg.MetadataValue.json(not_understood),
        }
    )


class GiasImportConfig(dg.Config):
    path: str  # an edubasealldata*.csv file (GIAS establishment extract)


@dg.asset(
    key="gias_establishments",
    group_name="registry",
    kinds={"python", "csv"},
    owners=OWNERS,
)
def gias_establishments(
    context: dg.AssetExecutionContext, config: GiasImportConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The DfE's register of establishments (GIAS): URN, LA, establishment number, phase, statutory
    ages, trust and diocese for every school in England.

    Neither connector says which trust or diocese a school belongs to, and XoD has no school list at
    all, so connector schools are matched to this register by URN, or by LA code and establishment
    number. A school with no row here is reported, never guessed.
    """
    read = read_gias(Path(config.path))
    stored = replace_gias(warehouse.engine(), read.rows)
    context.log.info(f"{stored} establishments imported; {read.skipped} rows without a URN skipped")
    return dg.MaterializeResult(
        metadata={
            "establishments": stored,
            "skipped_rows": read.skipped,
            "with_trust": sum(1 for row in read.rows if row["trust_uid"]),
            "with_diocese": sum(1 for row in read.rows if row["diocese_code"]),
        }
    )


@dg.asset_check(
    name=PERMISSIONS_CHECK,
    asset="school_registry",
    description="Every permission a school approved at Wonde maps to a data item; any other is granted but not "
    "understood (a new or renamed permission): warns, names the schools and permissions. Reads the "
    "registry only (no connector is contacted), so it can be executed on its own at any time.",
)
def every_granted_permission_understood(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    not_understood = {
        school.urn: list(school.unrecognised_permissions)
        for school in list_schools(warehouse.engine())
        if school.approval_state == "approved" and school.unrecognised_permissions
    }
    return dg.AssetCheckResult(
        passed=not not_understood,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"schools": len(not_understood), "not_understood": dg.MetadataValue.json(not_understood)},
    )
