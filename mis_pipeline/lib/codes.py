"""The code sets a report explains to its reader, in one place: the DfE's attendance register codes,
school census codes (SEN provision, ethnicity, first language, sex), teacher-assessment and test
outcome codes, and our own words for data items, partners and retention rules.

Sources: /work/shared/reference/domain.md §1.5 (census items), §4 (attendance codes from 19 August
2024, and the older H, Y and J), §5 (KS1/KS2 teacher assessment outcomes, GCSE grades). Language
codes are those the connectors send (ISO 639-2 style, as Wonde and XoD carry the census item); a
code not listed here is shown as "a code used by the school", never guessed.
"""

from __future__ import annotations

ATTENDANCE_MARKS = {
    "/": "present (morning)",
    "\\": "present (afternoon)",
    "L": "late, before the register closed",
    "K": "education arranged by the local authority",
    "V": "educational visit or trip",
    "P": "approved sporting activity",
    "W": "work experience",
    "B": "other approved educational activity",
    "D": "attending another school it is registered at",
    "C": "authorised leave of absence",
    "C1": "regulated performance or employment abroad",
    "C2": "part-time timetable",
    "M": "medical or dental appointment",
    "J1": "interview",
    "J": "interview (before 2024)",
    "S": "study leave",
    "R": "religious observance",
    "T": "travelling (mobile child)",
    "I": "illness",
    "E": "suspended or excluded",
    "G": "holiday not authorised",
    "N": "reason not yet given",
    "O": "unauthorised absence",
    "U": "late, after the register closed",
    "H": "authorised holiday (before 2024)",
    "Y": "exceptional circumstances (before 2024)",
    "X": "not required to attend",
    "Q": "unable to attend: no access arranged",
    "Y1": "unable to attend: transport",
    "Y2": "unable to attend: travel disruption",
    "Y3": "unable to attend: part of the school closed",
    "Y4": "unable to attend: school closed unexpectedly",
    "Y5": "unable to attend: in custody",
    "Y6": "unable to attend: public health guidance",
    "Y7": "unable to attend: other unavoidable cause",
    "Z": "not yet on the admission register",
    "#": "planned school closure",
    "-": "no mark recorded yet",
}

SEN_PROVISION = {
    "N": "no special educational needs",
    "K": "SEN support",
    "E": "education, health and care plan",
    "S": "statement of SEN (before 2014)",
}

SEXES = {"M": "male", "F": "female"}

# National curriculum year groups (census "NC year actual").
NC_YEARS = {
    "E1": "early years, first year (age 0 on 31 August)",
    "E2": "early years, second year (age 1 on 31 August)",
    "N1": "nursery, first year (age 2 on 31 August)",
    "N2": "nursery, second year (age 3 on 31 August)",
    "R": "Reception",
    "X": "national curriculum not followed",
    **{str(n): f"Year {n}" for n in range(1, 15)},
}

# School census extended ethnicity codes (main and minor groups).
ETHNICITIES = {
    "WBRI": "White - British",
    "WIRI": "White - Irish",
    "WIRT": "Traveller of Irish heritage",
    "WROM": "Gypsy / Roma",
    "WOTH": "any other White background",
    "MWBC": "White and Black Caribbean",
    "MWBA": "White and Black African",
    "MWAS": "White and Asian",
    "MOTH": "any other mixed background",
    "AIND": "Indian",
    "APKN": "Pakistani",
    "ABAN": "Bangladeshi",
    "AOTH": "any other Asian background",
    "BCRB": "Black Caribbean",
    "BAFR": "Black African",
    "BOTH": "any other Black background",
    "CHNE": "Chinese",
    "OOTH": "any other ethnic group",
    "REFU": "refused (the family chose not to say)",
    "NOBT": "information not yet obtained",
}

FIRST_LANGUAGES = {
    "ENG": "English",
    "ENB": "believed to be English",
    "OTB": "believed to be other than English",
    "POL": "Polish",
    "URD": "Urdu",
    "PAN": "Panjabi",
    "BEN": "Bengali",
    "SOM": "Somali",
    "ARA": "Arabic",
    "POR": "Portuguese",
    "RUM": "Romanian",
    "NOT": "information not obtained",
    "REF": "refused",
}

# KS1/KS2 teacher-assessment outcomes and test tokens; GCSE grades 9 (highest) to 1, and U.
ASSESSMENT_RESULTS = {
    "GDS": "working at greater depth within the expected standard",
    "EXS": "working at the expected standard",
    "WTS": "working towards the expected standard",
    "PKF": "pre-key stage: foundations for the expected standard",
    "PKE": "pre-key stage: early development of the expected standard",
    "PKG": "pre-key stage: growing development of the expected standard",
    "BLW": "working below the pre-key stage standards",
    "HNM": "has not met the expected standard",
    "AS": "met the expected standard (test)",
    "NS": "did not meet the expected standard (test)",
    "U": "GCSE: ungraded",
    **{
        str(g): f"GCSE grade {g} on the 9 to 1 scale (9 is highest; 4 is a standard pass, 5 a strong pass)"
        for g in range(1, 10)
    },
}

# The data items a school can grant or withhold, as a reader names them.
ITEMS = {
    "core": "Pupil record",
    "attendance": "Attendance",
    "assessments": "Assessment results",
    "groups": "Groups",
    "additional_details": "Additional details",
}
DATASETS = {
    "pupils": "Pupil record",
    "pupil_details": "Additional details",
    "attendance_sessions": "Attendance",
    "assessment_results": "Assessment results",
    "pupil_groups": "Groups",
}
PARTNER_KINDS = {"la": "Local authority", "trust": "Academy trust", "diocese": "Diocese"}
CONNECTORS = {"wonde": "Wonde", "xod": "Groupcall Xporter on Demand"}
RETENTION_RULES = {
    "left": "the pupil left",
    "completed_key_stage": "the pupil completed the school's last key stage",
    "subscription_ended": "the school's subscription ended",
    "access_revoked": "the school stopped our access at the connector",
    "agreement_withdrawn": "the school withdrew from the data sharing agreement",
    "no_named_record": "only held-back records of the pupil were held, never a named record",
}
UNKNOWN = "a code used by the school"


def explain(table: dict[str, str], code) -> str:
    """`code (meaning)`, or `code (a code used by the school)` for one outside the table."""
    return f"{code} ({table.get(str(code), UNKNOWN)})"
