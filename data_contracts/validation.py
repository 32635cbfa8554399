"""Validate records against a contract.

Two readers of the same contract: `split_valid` judges records one by one on the sync's hot path
(fast, and it names the first rule a record broke so the caller can quarantine it while the rest of
the page lands); `pandera_schema` builds the equivalent pandera schema, used by asset checks over
stored tables and as the Dagster type. A test keeps the two in agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import pandera.pandas as pa

from data_contracts.model import Column, Contract

_PYTHON_TYPES = {"string": str, "date": date, "datetime": datetime, "bool": bool, "int": int}
Rule = tuple[str, Callable[[Any], bool]]


@dataclass(frozen=True)
class Rejection:
    record: dict
    rule: str  # "field: what is wrong", e.g. "session: not AM/PM", "upn: missing"; never a value


# How a broken type or length rule reads to a school's data manager.
MISSING = "missing"
_TYPE_WORDS = {
    "string": "text",
    "date": "a date",
    "datetime": "a date and time",
    "bool": "yes/no",
    "int": "a whole number",
}


def _is_type(dtype: str) -> Callable[[Any], bool]:
    expected = _PYTHON_TYPES[dtype]
    if expected in (str, date):  # exact: a datetime is a date subclass, and str subclasses are odd
        return lambda value: type(value) is expected
    return lambda value: isinstance(value, expected)


def _rules(column: Column) -> list[Rule]:
    """Every rule a non-null value of the column must pass, in the order they are reported."""
    return [(wording, accepts) for _, wording, accepts in _named_rules(column)]


def _named_rules(column: Column) -> list[tuple[str, str, Callable[[Any], bool]]]:
    """(check name for pandera, the wording a data manager reads, the test), in report order."""
    rules = [(f"type_{column.dtype}", f"not {_TYPE_WORDS[column.dtype]}", _is_type(column.dtype))]
    if column.max_length:
        limit = column.max_length
        rules.append(
            (
                f"max_length_{limit}",
                f"longer than {limit} character{'s' if limit != 1 else ''}",
                lambda value: len(value) <= limit,
            )
        )
    rules.extend((check.name, check.wording, check.accepts) for check in column.checks)
    return rules


CompiledContract = tuple[tuple[str, bool, tuple[Rule, ...]], ...]
_COMPILED: dict[str, CompiledContract] = {}


def _compiled(contract: Contract) -> CompiledContract:
    # Keyed by dataset name: hashing the whole frozen contract on every record would cost more
    # than the checks themselves.
    compiled = _COMPILED.get(contract.dataset)
    if compiled is None:
        compiled = tuple((c.name, c.nullable, tuple(_rules(c))) for c in contract.columns)
        _COMPILED[contract.dataset] = compiled
    return compiled


def _first_broken_rule(compiled: CompiledContract, record: dict) -> str | None:
    for name, nullable, rules in compiled:
        value = record.get(name)
        if value is None:
            if not nullable:
                return f"{name}: {MISSING}"
            continue
        for rule_name, accepts in rules:
            if not accepts(value):
                return f"{name}: {rule_name}"
    return None


def split_valid(contract: Contract, records: list[dict]) -> tuple[list[dict], list[Rejection]]:
    """Records that meet the contract, and rejections naming the first rule each other one broke."""
    compiled = _compiled(contract)
    good: list[dict] = []
    rejected: list[Rejection] = []
    for record in records:
        rule = _first_broken_rule(compiled, record)
        if rule is None:
            good.append(record)
        else:
            rejected.append(Rejection(record, rule))
    return good, rejected


@cache
def pandera_schema(contract: Contract) -> pa.DataFrameSchema:
    """The pandera schema for a contract: one column each with nullability and the same rules."""
    return pa.DataFrameSchema(
        {
            column.name: pa.Column(
                object,
                nullable=column.nullable,
                checks=[
                    pa.Check(accepts, name=name, element_wise=True, ignore_na=True)
                    for name, _, accepts in _named_rules(column)
                ],
                description=column.description,
            )
            for column in contract.columns
        },
        name=contract.dataset,
        strict="filter",
        coerce=False,
    )
