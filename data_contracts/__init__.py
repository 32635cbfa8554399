"""Declarative data contracts, one per dataset, and the pandera schemas built from them."""

from .model import Check, Column, Contract, PiiClass, Retention, Scope
from .pupils import PUPILS
from .validation import Rejection, pandera_schema, split_valid

CONTRACTS = {contract.dataset: contract for contract in (PUPILS,)}

__all__ = [
    "CONTRACTS", "PUPILS", "Check", "Column", "Contract", "PiiClass", "Rejection", "Retention",
    "Scope", "pandera_schema", "split_valid",
]
