"""The registry as Dagster dynamic partitions: schools keyed by URN (short, stable, comma-free) and
the partners the registry implies (la-371, trust-2044, diocese-CE23)."""

import dagster as dg
from sqlalchemy import Engine

from mis_pipeline.registry.partners import all_partners
from mis_pipeline.registry.store import school_links

SCHOOLS = dg.DynamicPartitionsDefinition(name="schools")
PARTNERS = dg.DynamicPartitionsDefinition(name="partners")


def refresh_partner_partitions(instance: dg.DagsterInstance, engine: Engine) -> list[str]:
    """Add a partition for every partner the registry now implies (one set difference); returns
    the partner keys, in order."""
    keys = [partner.key for partner in all_partners(school_links(engine))]
    new = sorted(set(keys) - set(instance.get_dynamic_partitions(PARTNERS.name)))
    if new:
        instance.add_dynamic_partitions(PARTNERS.name, new)
    return keys
