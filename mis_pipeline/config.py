"""Where local state lives and which databases to use, from the environment (DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def mis_home() -> Path:
    """`MIS_HOME`, else `.mis_home/` in the repository (or the current folder when installed)."""
    configured = os.environ.get("MIS_HOME")
    if configured:
        home = Path(configured).expanduser()
    elif (_PACKAGE_ROOT / "setup.py").exists():
        home = _PACKAGE_ROOT / ".mis_home"
    else:
        home = Path.cwd() / ".mis_home"
    home.mkdir(parents=True, exist_ok=True)
    return home.resolve()


def simulator_tls_dir() -> Path:
    """Where `mis-pipeline simulator serve --tls` keeps its private CA: `$MIS_HOME/simulator-tls/`."""
    return mis_home() / "simulator-tls"


def warehouse_url(configured: str | None = None) -> str:
    """The warehouse URL: `MIS_DATABASE_URL`, else an embedded SQLite file in `MIS_HOME`.

    Postgres URLs are pointed at psycopg 3, whose COPY support the bulk writer uses.
    """
    url = configured if configured is not None else os.environ.get("MIS_DATABASE_URL", "")
    if not url:
        return f"sqlite:///{mis_home() / 'warehouse.db'}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def embedded_dagster_home() -> Path:
    return mis_home() / "dagster"


MASTER_KEY_FILE = "master.key"


class MissingMasterKeyError(Exception):
    pass


def is_production() -> bool:
    return os.environ.get("MIS_ENV", "").strip().lower() == "production"


def refuse_production_without_master_key() -> None:
    if is_production() and not os.environ.get("MIS_MASTER_KEY", "").strip():
        raise MissingMasterKeyError("MIS_ENV=production and MIS_MASTER_KEY is not set: refusing to start")


def local_master_key_path() -> Path:
    return mis_home() / MASTER_KEY_FILE


def master_keyring(current: str | None = None, previous: str | None = None):
    """The master keys: `MIS_MASTER_KEY` (wraps new data keys) and `MIS_PREVIOUS_MASTER_KEYS`
    (comma-separated, still accepted while `keys rotate` re-wraps). Outside production a local key
    file in MIS_HOME (made by `mis-pipeline keys init`) stands in for `MIS_MASTER_KEY`; production
    (`MIS_ENV=production`) refuses to run without the variable."""
    from mis_pipeline.lib.crypto import Keyring, MasterKey

    text = current if current is not None else os.environ.get("MIS_MASTER_KEY", "")
    source = "MIS_MASTER_KEY"
    if not text.strip():
        refuse_production_without_master_key()
        path = local_master_key_path()
        if not path.exists():
            raise MissingMasterKeyError(
                f"no master key: set MIS_MASTER_KEY, or run `mis-pipeline keys init` for a local key in {path.parent}"
            )
        text, source = path.read_text(encoding="ascii"), str(path)
    older = previous if previous is not None else os.environ.get("MIS_PREVIOUS_MASTER_KEYS", "")
    return Keyring(
        current=MasterKey.parse(text, source),
        previous=tuple(
            MasterKey.parse(part, "MIS_PREVIOUS_MASTER_KEYS") for part in older.split(",") if part.strip()
        ),
    )


OPERATOR_ENV = "MIS_OPERATOR"


def operator_name() -> str:
    """Who is acting: `MIS_OPERATOR` (the CLI's `--as NAME` sets it), else the OS user. Audit entries
    and run tags record it, so an auditor can tell who changed a setting or started a run."""
    configured = os.environ.get(OPERATOR_ENV, "").strip()
    if configured:
        return configured
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"
