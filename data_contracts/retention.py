"""The un-named record a pupil leaves behind when the retention purge removes their named data.

Built only from what the pupil contracts class as un-named: the school, the school year, NC year,
sex, SEN/FSM/pupil premium/EAL flags, attendance figures and assessment results. No name, UPN,
date of birth, connector id or pupil key: nothing links it back to the pupil.
"""

from __future__ import annotations

from data_contracts.checks import one_of
from data_contracts.model import Column, Contract, PiiClass, Retention

PURGE_RULES = (
    "left",
    "completed_key_stage",
    "subscription_ended",
    "access_revoked",
    "agreement_withdrawn",
    "no_named_record",
)
_UNNAMED = dict(retention=Retention.UNNAMED)

UNNAMED_PUPILS = Contract(
    dataset="unnamed_pupils",
    description="One per purged pupil: un-named figures kept for audit, deleted 5 years after un-naming.",
    scope=None,
    key=("id",),
    columns=(
        Column("id", "int", "Record number (not derived from the pupil)", nullable=False, **_UNNAMED),
        Column("school_urn", "string", "The school", nullable=False, max_length=8, **_UNNAMED),
        Column(
            "academic_year",
            "string",
            "The school year of the pupil's last NC year, e.g. 2026/27",
            max_length=7,
            **_UNNAMED,
        ),
        Column("nc_year", "string", "The last NC year held", max_length=2, **_UNNAMED),
        Column("sex", "string", "M or F", max_length=1, **_UNNAMED),
        Column("sen_status", "string", "N, K or E", max_length=1, **_UNNAMED),
        Column("fsm_eligible", "bool", "Eligible for free school meals", **_UNNAMED),
        Column("pupil_premium", "bool", "Attracted pupil premium", **_UNNAMED),
        Column("eal", "bool", "English as an additional language", **_UNNAMED),
        Column("attendance", "string", "JSON: sessions per DfE mark", nullable=False, **_UNNAMED),
        Column(
            "results",
            "string",
            "JSON: [aspect, result set, result] per assessment result",
            nullable=False,
            **_UNNAMED,
        ),
        Column(
            "rule",
            "string",
            "Which retention rule purged the named data",
            nullable=False,
            max_length=24,
            checks=(one_of("purge_rule", PURGE_RULES, "a retention rule"),),
            **_UNNAMED,
        ),
        Column(
            "unnamed_on",
            "date",
            "The day the named data was purged (the 5-year clock starts)",
            nullable=False,
            **_UNNAMED,
        ),
    ),
)


RETENTION_SCHEDULE = Contract(
    dataset="retention_schedule",
    description="Every named pupil with the retention rule that applies, its trigger date and due date.",
    scope=None,
    key=("pupil_key",),
    columns=(
        Column(
            "pupil_key", "string", "Internal pupil key", nullable=False, max_length=64, pii=PiiClass.QUASI
        ),
        Column("school_urn", "string", "The school", nullable=False, max_length=8, **_UNNAMED),
        Column(
            "rule",
            "string",
            "The earliest rule that applies; none when no rule can fire yet",
            max_length=24,
            checks=(one_of("purge_rule", PURGE_RULES, "a retention rule"),),
            **_UNNAMED,
        ),
        Column("trigger_on", "date", "The day the rule's trigger happened (or will)", **_UNNAMED),
        Column("due_on", "date", "The day by which the named data must be gone", **_UNNAMED),
        Column("computed_on", "date", "The day this schedule was computed", nullable=False, **_UNNAMED),
    ),
)
