"""Internal identifiers that never reveal who a pupil is."""

from __future__ import annotations

import hashlib


def pupil_key(school_urn: str, connector: str, natural_id: str) -> str:
    """A stable internal key for one pupil at one school through one connector.

    Built from the connector's natural key (Wonde `upi`, which survives re-enrolment), never
    from the UPN, so joins need no direct identifier.
    """
    material = "\x1f".join((school_urn, connector, natural_id)).encode()
    return hashlib.sha256(material).hexdigest()[:32]
