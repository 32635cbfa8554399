"""Declarative data contracts, one per dataset, and the pandera schemas built from them."""

from data_contracts.audit import AUDIT_ACTIONS, AUDIT_LOG
from data_contracts.changes import CHANGE_KINDS, CHANGE_SET_STATUSES, CHANGE_SETS, PUPIL_CHANGES
from data_contracts.datasets import ASSESSMENT_RESULTS, ATTENDANCE_SESSIONS, PUPIL_DETAILS, PUPIL_GROUPS
from data_contracts.model import Check, Column, Contract, PiiClass, Retention, Scope
from data_contracts.pupils import PUPILS
from data_contracts.retention import PURGE_RULES, RETENTION_SCHEDULE, UNNAMED_PUPILS
from data_contracts.shares import SHARE_LOG, SHARE_PUPILS
from data_contracts.validation import Rejection, pandera_schema, split_valid

# The consent-scoped datasets a school's sync writes; the audit log's contract stands apart.
CONTRACTS = {
    contract.dataset: contract
    for contract in (PUPILS, PUPIL_DETAILS, ATTENDANCE_SESSIONS, ASSESSMENT_RESULTS, PUPIL_GROUPS)
}

__all__ = [
    "AUDIT_ACTIONS",
    "AUDIT_LOG",
    "ASSESSMENT_RESULTS",
    "CHANGE_KINDS",
    "CHANGE_SETS",
    "CHANGE_SET_STATUSES",
    "PUPIL_CHANGES",
    "PURGE_RULES",
    "RETENTION_SCHEDULE",
    "SHARE_LOG",
    "SHARE_PUPILS",
    "UNNAMED_PUPILS",
    "ATTENDANCE_SESSIONS",
    "CONTRACTS",
    "PUPILS",
    "PUPIL_DETAILS",
    "PUPIL_GROUPS",
    "Check",
    "Column",
    "Contract",
    "PiiClass",
    "Rejection",
    "Retention",
    "Scope",
    "pandera_schema",
    "split_valid",
]
