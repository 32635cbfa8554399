"""The audit trail: what was received, shared, changed, withheld, purged and re-keyed, when, and who acted."""
