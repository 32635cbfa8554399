"""Benchmark what encryption at rest costs the warehouse: the same writes and reads with the
AES-256-GCM step and without it.

"Without" keeps everything else identical (the same records, keyed digests, JSON of the direct
identifiers, per-pupil data keys, staging and upsert) and replaces only the cipher by the identity,
so the difference is the price of the encryption itself. Phases, each on a fresh database:

1. seal only     - sealing the direct identifiers of every record, in memory;
2. first write   - `write_school` of every school's pupils (data keys created, rows sealed, COPY);
3. read back     - `read_pupils` of every school (data keys unwrapped, rows opened);
4. unchanged     - the same records again: digests match, nothing is sealed or written.

Each configuration runs twice, alternating, and each phase keeps its best time.

Synthetic pupils (realistic lengths, non-ASCII names); only counts and rates are printed.

    .venv/bin/python benchmarks/bench_encryption.py [--schools 40 --pupils-per-school 1000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_contracts import PUPILS  # noqa: E402
from mis_pipeline.lib import crypto  # noqa: E402
from mis_pipeline.lib.crypto import Keyring, MasterKey, generate_key  # noqa: E402
from mis_pipeline.warehouse import sealing  # noqa: E402
from mis_pipeline.warehouse.engine import dispose_all, get_engine  # noqa: E402
from mis_pipeline.warehouse.reader import read_pupils  # noqa: E402
from mis_pipeline.warehouse.school_store import DatasetSync, write_school  # noqa: E402
from mis_pipeline.warehouse.vault import forget_vaults, open_vault  # noqa: E402

NAMES = [
    "Siobhán",
    "Zoë",
    "D'Souza",
    "Ngọc",
    "Aleksandra",
    "O'Neill",
    "Mohammed",
    "Chloé",
    "Oluwaseun",
    "Smith",
]
STARTED = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def pupils_of(urn: str, count: int, rng: random.Random) -> list[dict]:
    return [
        dict(
            school_urn=urn,
            connector="wonde",
            connector_pupil_id=f"A{rng.getrandbits(40):012d}",
            upi=f"{rng.getrandbits(128):032x}",
            mis_id=str(10_000 + n),
            upn=f"N{rng.getrandbits(40) % 10**12:012d}",
            former_upn=None,
            legal_forename=rng.choice(NAMES),
            legal_surname=rng.choice(NAMES),
            forename=None,
            surname=None,
            middle_names=rng.choice([None, rng.choice(NAMES)]),
            date_of_birth=date(2012, 1, 1).fromordinal(date(2012, 1, 1).toordinal() + rng.randrange(3000)),
            sex=rng.choice("MF"),
            nc_year=str(rng.randrange(1, 12)),
            admission_date=date(2020, 9, 1),
            leaving_date=None,
            source_updated_at=STARTED,
        )
        for n in range(count)
    ]


@contextmanager
def cipher(enabled: bool):
    """The real AES-GCM, or the identity in its place (sealing.py and crypto.py both call it)."""
    if enabled:
        yield
        return
    saved = (sealing.seal, sealing.open_sealed, crypto.seal, crypto.open_sealed)
    identity_seal, identity_open = (
        (lambda key, plaintext, associated: plaintext),
        (lambda key, sealed, associated: sealed),
    )
    sealing.seal, sealing.open_sealed, crypto.seal, crypto.open_sealed = (
        identity_seal,
        identity_open,
        identity_seal,
        identity_open,
    )
    try:
        yield
    finally:
        sealing.seal, sealing.open_sealed, crypto.seal, crypto.open_sealed = saved


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(url: str, schools: dict[str, list[dict]], encrypted: bool) -> dict[str, float]:
    forget_vaults()
    engine = get_engine(url)
    with cipher(encrypted):
        vault = open_vault(engine, Keyring(MasterKey.from_bytes(generate_key())))
        records = [
            dict(r, pupil_key=vault.pseudonyms.pupil_key(r["school_urn"], r["mis_id"]))
            for rows in schools.values()
            for r in rows
        ]
        by_school = {urn: [r for r in records if r["school_urn"] == urn] for urn in schools}
        key = generate_key()

        def sync_of(urn: str) -> DatasetSync:
            rows = [dict(r) for r in by_school[urn]]
            return DatasetSync(urn, "pupils", "full", "c", STARTED, len(rows), rows, [])

        figures = {
            "seal only": min(
                timed(lambda: [sealing.seal_direct(PUPILS, r, key) for r in records]) for _ in range(3)
            ),
            "first write": timed(
                lambda: [write_school(engine, vault, [sync_of(urn)], "bench") for urn in schools]
            ),
            "read back": timed(lambda: [read_pupils(engine, vault, urn) for urn in schools]),
            "unchanged": timed(
                lambda: [write_school(engine, vault, [sync_of(urn)], "bench-2") for urn in schools]
            ),
        }
    dispose_all()
    return figures


def fresh_database(postgres: str | None, label: str, folder: str) -> str:
    if not postgres:
        return f"sqlite:///{folder}/{label}.db"
    import sqlalchemy as sa

    name = f"bench_encryption_{label}_{os.getpid()}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(postgres).set(database=name).render_as_string(hide_password=False)


def drop_database(postgres: str, url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--pupils-per-school", type=int, default=1000)
    parser.add_argument(
        "--postgres", help="an admin URL (postgresql+psycopg://…/postgres); default: SQLite files"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    schools = {
        str(100_000 + i): pupils_of(str(100_000 + i), args.pupils_per_school, rng)
        for i in range(args.schools)
    }
    rows = args.schools * args.pupils_per_school
    plain: dict[str, float] = {}
    sealed: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(2):  # alternate, keep each phase's best: less noise from the machine
            for encrypted, best in ((False, plain), (True, sealed)):
                label = f"{'sealed' if encrypted else 'plain'}{attempt}"
                url = fresh_database(args.postgres, label, folder)
                for phase, seconds in run(url, schools, encrypted).items():
                    best[phase] = min(seconds, best.get(phase, seconds))
                if args.postgres:
                    drop_database(args.postgres, url)
    print(
        f"{rows} pupils in {args.schools} schools, {'PostgreSQL' if args.postgres else 'SQLite'}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    print(f"{'phase':<12} {'without':>14} {'with AES-GCM':>14} {'cost':>8}")
    for phase in plain:
        print(
            f"{phase:<12} {rows / plain[phase]:>10,.0f} r/s {rows / sealed[phase]:>10,.0f} r/s "
            f"{sealed[phase] / plain[phase]:>7.2f}x"
        )


if __name__ == "__main__":
    main()
