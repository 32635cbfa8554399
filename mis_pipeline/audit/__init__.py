"""The audit trail: what was received, changed, withheld and re-keyed, and when. Never who."""
