"""Who may receive a school's data: its local authority, its trust and its diocese. Pure.

These three kinds are the only recipients the agreement allows, so they are the only ones that can
be expressed here: a partner is a kind from `PartnerKind` and the school's own GIAS code for it.
There is no way to name any other recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class PartnerKind(str, Enum):
    LA = "la"  # the school's local authority (GIAS `LA (code)`)
    TRUST = "trust"  # its multi-academy trust or academy chain (GIAS `Trusts (code)`)
    DIOCESE = "diocese"  # its diocese (GIAS `Diocese (code)`)


SHARING_KINDS = tuple(kind.value for kind in PartnerKind)
_CODE = re.compile(r"[A-Za-z0-9]{1,16}")


@dataclass(frozen=True, order=True)
class Partner:
    kind: PartnerKind
    code: str

    def __post_init__(self):
        if not isinstance(self.kind, PartnerKind) or not _CODE.fullmatch(self.code or ""):
            raise ValueError("a partner is a local authority, trust or diocese with its GIAS code")

    @property
    def key(self) -> str:
        """The partition key, e.g. la-371, trust-2044, diocese-CE23."""
        return f"{self.kind.value}-{self.code}"

    @classmethod
    def parse(cls, key: str) -> Partner:
        kind, _, code = key.partition("-")
        try:
            return cls(PartnerKind(kind), code)
        except ValueError:
            raise ValueError(
                f"unknown partner {key!r}: la-<LA code>, trust-<trust UID> or diocese-<diocese code>"
            ) from None


@dataclass(frozen=True)
class SchoolLinks:
    """A school's GIAS links and its own sharing choices and scope."""

    urn: str
    la_code: str | None
    trust_uid: str | None
    diocese_code: str | None
    sharing_off: frozenset[str] = frozenset()  # partner kinds the school switched off
    scope: tuple[str, ...] = ()  # data items it currently lets us collect


def partners_of(school: SchoolLinks) -> tuple[Partner, ...]:
    """The school's partners: exactly one LA, at most one trust and one diocese, less those it
    switched off."""
    links = (
        (PartnerKind.LA, school.la_code),
        (PartnerKind.TRUST, school.trust_uid),
        (PartnerKind.DIOCESE, school.diocese_code),
    )
    return tuple(Partner(kind, code) for kind, code in links if code and kind.value not in school.sharing_off)


def schools_of(partner: Partner, schools: list[SchoolLinks]) -> list[SchoolLinks]:
    """The schools whose data this partner may receive, in URN order."""
    return sorted((s for s in schools if partner in partners_of(s)), key=lambda s: s.urn)


def all_partners(schools: list[SchoolLinks]) -> list[Partner]:
    return sorted({partner for school in schools for partner in partners_of(school)})
