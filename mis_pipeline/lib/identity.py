"""Internal identifiers that never reveal who a pupil is."""

from __future__ import annotations

import hashlib


def pupil_key(school_urn: str, mis_id: str) -> str:
    """A stable internal key for one pupil at one school.

    Built from the MIS's own id for the pupil, which both connectors report (Wonde `mis_id`, XoD
    `Id`) and which survives re-enrolment, so the same pupil has the same key whichever connector
    delivers it; never from the UPN, so joins need no direct identifier.
    """
    material = "\x1f".join((school_urn, mis_id)).encode()
    return hashlib.sha256(material).hexdigest()[:32]
