"""Codes as a reader knows them: a school's name beside its URN, a partner's name (from GIAS)
beside its key. One lookup for every report (audit, subject access)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from mis_pipeline.lib.codes import PARTNER_KINDS
from mis_pipeline.warehouse.schema import gias_establishments, schools

_PARTNER_COLUMNS = {
    "la": (gias_establishments.c.la_name, gias_establishments.c.la_code),
    "trust": (gias_establishments.c.trust_name, gias_establishments.c.trust_uid),
    "diocese": (gias_establishments.c.diocese_name, gias_establishments.c.diocese_code),
}


def partner_name(conn: Connection, partner: str) -> str:
    """A partner key (la-371, trust-2044, diocese-CE23) as a reader knows it, named from GIAS:
    "Local authority: Doncaster"; without a GIAS name, "Local authority 371"."""
    kind, _, code = partner.partition("-")
    columns = _PARTNER_COLUMNS.get(kind)
    if columns is None:
        return partner
    name = conn.execute(
        select(columns[0]).where(columns[1] == code, columns[0].is_not(None)).limit(1)
    ).scalar()
    return f"{PARTNER_KINDS[kind]}: {name}" if name else f"{PARTNER_KINDS[kind]} {code}"


def school_names(conn: Connection) -> dict[str, str]:
    """URN -> name for every registered school, else as GIAS names it."""
    names = dict(conn.execute(select(gias_establishments.c.urn, gias_establishments.c.name)).all())
    names.update(conn.execute(select(schools.c.urn, schools.c.name)).all())
    return names
