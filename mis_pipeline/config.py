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
