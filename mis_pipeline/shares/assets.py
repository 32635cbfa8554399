"""Partner shares in Dagster: one partition per partner (la-371, trust-2044, diocese-CE23)."""

import warnings
from pathlib import Path

import dagster as dg

from mis_pipeline.config import MissingMasterKeyError, mis_home
from mis_pipeline.lib.crypto import KeyringError
from mis_pipeline.registry.partitions import PARTNERS
from mis_pipeline.registry.partners import Partner
from mis_pipeline.registry.run_tags import TRIGGER_TAG, run_actor
from mis_pipeline.registry.store import list_schools
from mis_pipeline.shares.store import ShareResult, make_share
from mis_pipeline.sync.assets import TABLE_ASSETS
from mis_pipeline.warehouse.resource import WarehouseResource

OWNERS = ["team:data-engineering"]
SHARE_JOB = "share_with_partners"


class ShareConfig(dg.Config):
    out_dir: str = ""  # where shares are written (one folder per partner); empty: MIS_HOME/shares


def share_root(config: ShareConfig) -> Path:
    return Path(config.out_dir).expanduser() if config.out_dir else mis_home() / "shares"


# A single-run backfill policy on a plain asset is marked beta; it is what makes one run cover many
# partners, and the warning would otherwise reach every operator's terminal.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


@dg.asset(
    key="partner_shares",
    group_name="shares",
    kinds={"python", "csv", "parquet"},
    owners=OWNERS,
    partitions_def=PARTNERS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # The registry (with GIAS's LA, trust and diocese) decides who the recipients are.
    deps=["school_registry", "gias_establishments", *TABLE_ASSETS],
    output_required=False,  # each partner partition gets its own materialisation, with its own figures
)
def partner_shares(context: dg.AssetExecutionContext, config: ShareConfig, warehouse: WarehouseResource):
    """What each partner receives: its own schools only (a school's local authority, trust or
    diocese, from GIAS; never anyone else), only the data items each school currently lets us
    collect, only pupils still held named, and only if the school has not switched that kind of
    partner off. Decrypted only into the share: CSV and Parquet per dataset and a manifest
    (schools, counts, as-of, checksums), replacing the partner's previous share; every share is
    audited."""
    engine = warehouse.engine()
    try:
        vault = warehouse.vault()
    except (KeyringError, MissingMasterKeyError) as error:
        raise dg.Failure(description=str(error)) from None
    root = share_root(config)
    names = {school.urn: school.name for school in list_schools(engine)}
    for key in context.partition_keys:
        result = make_share(
            engine, vault, Partner.parse(key), root, context.run.run_id, actor=run_actor(context.run.tags)
        )
        context.log.info(f"{key}: {len(result.schools)} schools, {result.counts['pupils']} pupils")
        yield dg.AssetMaterialization("partner_shares", partition=key, metadata=share_metadata(result, names))


def share_metadata(result: ShareResult, names: dict[str, str]) -> dict:
    """One partner's share: its schools (by URN and name), its pupils and rows per dataset, and its
    data files (CSV and Parquet, beside the manifest) in the folder `dagster/uri` names."""
    files = [path for path in result.folder.iterdir() if path.is_file() and path.name != "manifest.json"]
    return {
        "schools": len(result.schools),
        "pupils": result.counts.get("pupils", 0),
        **{f"rows_{name}": n for name, n in sorted(result.counts.items())},
        "school_names": dg.MetadataValue.md(
            "\n".join(f"- {urn} {names.get(urn, '')}" for urn in result.schools)
        ),
        "files": len(files),
        "manifest_sha256": result.manifest_sha256,
        "dagster/uri": result.folder.resolve().as_uri(),
    }


share_with_partners_job = dg.define_asset_job(
    SHARE_JOB,
    selection=["partner_shares"],
    partitions_def=PARTNERS,
    executor_def=dg.in_process_executor,
    tags={TRIGGER_TAG: "ui"},  # a launchpad run; the CLI sets its own
    description="Write each selected partner's share (one folder per partner) and audit it.",
)
