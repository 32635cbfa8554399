"""Whether a school may be contacted at all, and if not, the one reason why. Pure, no Dagster.

The agreement allows collection only while every one of these holds: the connector grants access,
the school has not stopped collection (paused), it has accepted the data sharing agreement (which
is also acceptance of the retention periods), and its subscription has not ended.
"""

from __future__ import annotations

from datetime import date


def sync_blocker(
    approval_state: str,
    paused: bool,
    agreement_accepted_on: date | None,
    subscription_end: date | None,
    today: date,
) -> str | None:
    """None when the school may be synced today; otherwise the first condition that fails."""
    if approval_state != "approved":
        return "access revoked at the connector (no longer listed as approved)"
    if paused:
        return "paused by the school: collection stopped until it is resumed"
    if agreement_accepted_on is None:
        return "the data sharing agreement has not been accepted (schools set URN --agreement-accepted DATE)"
    if subscription_end is not None and subscription_end < today:
        return f"the subscription ended on {subscription_end.isoformat()}"
    return None
