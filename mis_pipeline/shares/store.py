"""Make one partner's share: its schools' held pupils, only the items each school currently lets us
collect, decrypted only into the share's own files (CSV and Parquet per dataset) with a manifest.

The files are written into a fresh folder that replaces the partner's previous share in one rename,
so a reader never sees half a share; the share is logged and audited in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, insert, select

from data_contracts import CONTRACTS
from mis_pipeline.registry.partners import Partner, SchoolLinks, schools_of
from mis_pipeline.registry.store import school_links
from mis_pipeline.warehouse.audit_log import record_audit
from mis_pipeline.warehouse.reader import read_pupils
from mis_pipeline.warehouse.schema import DATASET_TABLES, share_log, share_pupils
from mis_pipeline.warehouse.vault import Vault

# Data minimisation: partners get the pupil's identity as schools know it (UPN, names, dates), not
# our connectors' ids or internal keys; every row of another item names its pupil by UPN.
PUPIL_COLUMNS = (
    "school_urn",
    "upn",
    "former_upn",
    "legal_forename",
    "legal_surname",
    "forename",
    "surname",
    "middle_names",
    "date_of_birth",
    "sex",
    "nc_year",
    "admission_date",
    "leaving_date",
)
_NOT_SHARED = {"pupil_key", "source_updated_at"}
ITEM_OF_DATASET = {CONTRACTS[d].scope.value: d for d in DATASET_TABLES}  # scope -> dataset


def item_columns(dataset: str) -> tuple[str, ...]:
    return ("upn", *(c for c in CONTRACTS[dataset].column_names if c not in _NOT_SHARED))


@dataclass(frozen=True)
class ShareResult:
    partner: str
    folder: Path
    schools: list[str]
    counts: dict[str, int]
    manifest_sha256: str


def make_share(
    engine: Engine, vault: Vault, partner: Partner, out_root: Path, run_id: str | None, actor: str
) -> ShareResult:
    schools = schools_of(partner, school_links(engine))
    rows: dict[str, list[dict]] = {"pupils": [], **{d: [] for d in DATASET_TABLES}}
    shared_keys: list[str] = []
    pupils_by_school: dict[str, int] = {}
    for school in schools:
        keys = _school_rows(engine, vault, school, rows)
        pupils_by_school[school.urn] = len(set(keys))  # each school's DPO sees how many of its pupils went
        shared_keys += keys
    made_at = datetime.now(UTC)
    folder, manifest_sha = _write_folder(out_root, partner, schools, rows, made_at)
    counts = {dataset: len(found) for dataset, found in rows.items()}
    with engine.begin() as conn:
        share_id = conn.execute(
            insert(share_log).values(
                partner=partner.key,
                made_at=made_at,
                schools=json.dumps([s.urn for s in schools]),
                counts=json.dumps(counts, sort_keys=True),
                manifest_sha256=manifest_sha,
                run_id=run_id,
            )
        ).inserted_primary_key[0]
        if shared_keys:
            conn.execute(
                insert(share_pupils),
                [{"share_id": share_id, "pupil_key": key} for key in sorted(set(shared_keys))],
            )
        record_audit(
            conn,
            "share_made",
            {
                "partner": partner.key,
                "schools": [s.urn for s in schools],
                "counts": counts,
                "pupils_by_school": pupils_by_school,
            },
            actor=actor,
            run_id=run_id,
        )
    return ShareResult(partner.key, folder, [s.urn for s in schools], counts, manifest_sha)


def shared_datasets(scope: tuple[str, ...]) -> tuple[str, ...]:
    """The datasets a school's share holds: the core record, and each item in its current scope."""
    return ("pupils", *(ITEM_OF_DATASET[item] for item in scope if item in ITEM_OF_DATASET))


def _school_rows(engine: Engine, vault: Vault, school: SchoolLinks, rows: dict[str, list[dict]]) -> list[str]:
    """Add one school's rows to the share; returns the pupil keys shared. Pupils deleted at the
    connector are no longer on the school's roll and are not shared."""
    held = [p for p in read_pupils(engine, vault, school.urn) if p["deleted_at"] is None]
    upn_of = {p["pupil_key"]: p["upn"] for p in held}
    rows["pupils"] += [{c: p[c] for c in PUPIL_COLUMNS} for p in held]
    with engine.connect() as conn:
        for dataset in shared_datasets(school.scope)[1:]:
            table = DATASET_TABLES[dataset]
            for row in conn.execute(select(table).where(table.c.school_urn == school.urn)).mappings():
                if row["pupil_key"] in upn_of:
                    rows[dataset].append(
                        {"upn": upn_of[row["pupil_key"]], **{c: row[c] for c in item_columns(dataset)[1:]}}
                    )
    return list(upn_of)


def _write_folder(
    out_root: Path,
    partner: Partner,
    schools: list[SchoolLinks],
    rows: dict[str, list[dict]],
    made_at: datetime,
) -> tuple[Path, str]:
    out_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{partner.key}-", dir=out_root))
    os.chmod(staging, 0o700)  # decrypted pupil data: the owner only
    files = []
    for dataset, found in rows.items():
        columns = PUPIL_COLUMNS if dataset == "pupils" else item_columns(dataset)
        files += [
            _write_csv(staging / f"{dataset}.csv", columns, found),
            _write_parquet(staging / f"{dataset}.parquet", columns, found),
        ]
    manifest = {
        "partner": partner.key,
        "kind": partner.kind.value,
        "code": partner.code,
        "made_at": made_at.isoformat(),
        "as_of": made_at.date().isoformat(),
        "schools": [s.urn for s in schools],
        "counts": {dataset: len(found) for dataset, found in rows.items()},
        "counts_by_school": {
            s.urn: {d: sum(1 for r in found if r["school_urn"] == s.urn) for d, found in rows.items()}
            for s in schools
        },
        "files": files,
    }
    text = json.dumps(manifest, indent=1, sort_keys=True, default=str)
    (staging / "manifest.json").write_text(text, encoding="utf-8")
    final = out_root / partner.key
    previous = out_root / f".{partner.key}.previous"
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return final, hashlib.sha256(text.encode()).hexdigest()


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> dict:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: _text(row[c]) for c in columns} for row in rows)
    return _file_entry(path, len(rows))


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _write_parquet(path: Path, columns: tuple[str, ...], rows: list[dict]) -> dict:
    pd.DataFrame(rows, columns=list(columns)).to_parquet(path, index=False)
    return _file_entry(path, len(rows))


def _file_entry(path: Path, rows: int) -> dict:
    return {"name": path.name, "rows": rows, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
