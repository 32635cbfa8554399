"""Schools as Dagster dynamic partitions, keyed by URN (short, stable, comma-free)."""

import dagster as dg

SCHOOLS = dg.DynamicPartitionsDefinition(name="schools")
