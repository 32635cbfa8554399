"""The core pupil record: one row per pupil per school, as the connectors report it."""

from __future__ import annotations

from datetime import date

from data_contracts.checks import NC_YEARS, SEXES, date_between, one_of, upn_check_letter
from data_contracts.model import Column, Contract, PiiClass, Retention, Scope

_NAME = dict(dtype="string", pii=PiiClass.DIRECT, max_length=100)

PUPILS = Contract(
    dataset="pupils",
    description="The core pupil record held for each pupil a school has authorised us to receive.",
    scope=Scope.CORE,
    key=("pupil_key",),
    columns=(
        Column(
            "pupil_key",
            "string",
            "Internal pupil key; never the UPN",
            nullable=False,
            pii=PiiClass.QUASI,
            max_length=64,
        ),
        Column(
            "school_urn",
            "string",
            "The school's URN",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=8,
        ),
        Column(
            "connector",
            "string",
            "Which connector delivered the record",
            nullable=False,
            retention=Retention.UNNAMED,
            max_length=16,
        ),
        Column(
            "connector_pupil_id",
            "string",
            "The connector's id for the pupil (changes on re-enrolment)",
            nullable=False,
            pii=PiiClass.DIRECT,
            max_length=64,
        ),
        Column(
            "upi",
            "string",
            "The connector's stable natural key (Wonde upi)",
            nullable=False,
            pii=PiiClass.DIRECT,
            max_length=64,
        ),
        Column(
            "mis_id",
            "string",
            "The MIS's own id (both connectors report it; survives re-enrolment)",
            nullable=False,
            pii=PiiClass.DIRECT,
            max_length=64,
        ),
        Column(
            "upn",
            "string",
            "Unique Pupil Number",
            nullable=False,
            pii=PiiClass.DIRECT,
            max_length=13,
            checks=(upn_check_letter("upn"),),
        ),
        Column(
            "former_upn",
            "string",
            "A previous (often temporary) UPN",
            pii=PiiClass.DIRECT,
            max_length=13,
            checks=(upn_check_letter("former_upn"),),
        ),
        Column("legal_forename", description="Legal forename", nullable=False, **_NAME),
        Column("legal_surname", description="Legal surname", nullable=False, **_NAME),
        Column("forename", description="Preferred forename", **_NAME),
        Column("surname", description="Preferred surname", **_NAME),
        Column("middle_names", description="Middle names", **_NAME),
        Column(
            "date_of_birth",
            "date",
            "Date of birth",
            nullable=False,
            pii=PiiClass.DIRECT,
            checks=(date_between("date_of_birth_plausible", date(1990, 1, 1)),),
        ),
        Column(
            "sex",
            "string",
            "Sex as recognised in law (census item)",
            pii=PiiClass.QUASI,
            retention=Retention.UNNAMED,
            max_length=1,
            checks=(one_of("sex_code", SEXES, "M or F"),),
        ),
        Column(
            "nc_year",
            "string",
            "National curriculum year (E1..N2, R, 1..14, X)",
            pii=PiiClass.QUASI,
            retention=Retention.UNNAMED,
            max_length=2,
            checks=(
                one_of("nc_year_code", NC_YEARS, "a census NC year code", "not an NC year (R, 1-14, N1, N2)"),
            ),
        ),
        Column(
            "admission_date",
            "date",
            "Date of admission",
            pii=PiiClass.QUASI,
            checks=(date_between("admission_date_plausible", date(1990, 1, 1), 1),),
        ),
        Column(
            "leaving_date",
            "date",
            "Date the pupil left, when the MIS records one",
            pii=PiiClass.QUASI,
            checks=(date_between("leaving_date_plausible", date(1990, 1, 1), 1),),
        ),
        Column("source_updated_at", "datetime", "When the connector last changed the record", nullable=False),
    ),
)
