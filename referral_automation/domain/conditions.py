"""Trigger-rule conditions made into functions: data from YAML, never ``eval`` of strings."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from referral_automation.config import Comparison, Condition, fold
from referral_automation.config.source import Location
from referral_automation.domain.facts import CustomerFacts

#: What ``lookup`` gives for a property that is not there (``None`` may be a value).
MISSING = object()

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def lookup(properties: Mapping[str, Any], path: str) -> Any:
    """A possibly dotted property path (``plan.tier``), or ``MISSING``."""
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def compare(op: str, value: Any, operand: Any) -> bool:
    """Apply one operator. A missing value satisfies only ``exists: false``; ordering operators
    are false for values that are not numbers (a string never "is at least 9")."""
    if op == "exists":
        return bool((value is not MISSING and value is not None) == operand)
    if value is MISSING:
        return False
    if op == "eq":
        return _same(value, operand)
    if op == "ne":
        return not _same(value, operand)
    if op == "in":
        return any(_same(value, item) for item in operand)
    if op == "not_in":
        return not any(_same(value, item) for item in operand)
    if isinstance(value, bool) or (not isinstance(value, int | float) and not is_decimal(value)):
        return False
    return bool(_ORDERING[op](value, operand))


def _same(value: Any, operand: Any) -> bool:
    """Equality as in JSON: ``true`` is not ``1`` (Python's ``True == 1`` would say it is)."""
    return isinstance(value, bool) == isinstance(operand, bool) and bool(value == operand)


def is_decimal(value: Any) -> bool:
    return isinstance(value, Decimal)


def as_decimal(operand: Any) -> Any:
    """The number as written in YAML (``0.1``, not its binary float), to compare with a decimal field."""
    if isinstance(operand, list):
        return [as_decimal(item) for item in operand]
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return Decimal(str(operand))
    return operand


#: A condition made into one function of (event properties, customer, moment time).
Check = Callable[[Mapping[str, Any], CustomerFacts, datetime], bool]


def compile_condition(condition: Condition | None) -> Check:
    """``condition`` as one function of (event properties, customer, moment time).

    Detection applies a rule's condition to every event of its type: compiling walks the tree
    once and resolves each comparison's field, operator and operand then, not once per event.
    tests/reference/conditions.py interprets the tree instead, and the tests hold both to the
    same verdicts.
    """
    if condition is None:
        return _always
    return fold(condition, leaf=_compile_leaf, all_of=_all_of, any_of=_any_of, not_of=_not_of)


def _always(_properties: Mapping[str, Any], _customer: CustomerFacts, _at: datetime) -> bool:
    return True


def _all_of(parts: Sequence[Check]) -> Check:
    if len(parts) == 1:
        return parts[0]
    return lambda properties, customer, at: all(part(properties, customer, at) for part in parts)


def _any_of(parts: Sequence[Check]) -> Check:
    if len(parts) == 1:
        return parts[0]
    return lambda properties, customer, at: any(part(properties, customer, at) for part in parts)


def _not_of(inner: Check) -> Check:
    return lambda properties, customer, at: not inner(properties, customer, at)


def _compile_leaf(comparison: Comparison, _where: Location = ()) -> Check:
    read = _reader(comparison)
    test = _tester(comparison.operator(), comparison.operand(comparison.operator()))
    return lambda properties, customer, at: test(read(properties, customer, at))


def _reader(comparison: Comparison) -> Callable[[Mapping[str, Any], CustomerFacts, datetime], Any]:
    """The compared value (``MISSING`` when absent), as ``_leaf`` reads it."""
    if comparison.customer is not None:
        name = comparison.customer

        def customer_field(_properties: Mapping[str, Any], customer: CustomerFacts, at: datetime) -> Any:
            value = customer.field_value(name, at)
            return MISSING if value is None else value

        return customer_field
    path = comparison.property
    assert path is not None
    if "." in path:
        return lambda properties, _customer, _at: lookup(properties, path)

    def top_level(properties: Mapping[str, Any], _customer: CustomerFacts, _at: datetime) -> Any:
        if type(properties) is dict:  # the common case, as ``lookup`` would read it
            return properties.get(path, MISSING)
        return lookup(properties, path)

    return top_level


def _tester(op: str, operand: Any) -> Callable[[Any], bool]:
    """``compare(op, value, operand)`` with the operand resolved once (and its decimal form too)."""
    decimal_operand = as_decimal(operand)
    if op in _ORDERING:
        order = _ORDERING[op]

        def ordering(value: Any) -> bool:
            if value is MISSING or isinstance(value, bool):
                return False
            if isinstance(value, int | float):
                return bool(order(value, operand))
            return isinstance(value, Decimal) and bool(order(value, decimal_operand))

        return ordering
    if op == "exists":
        return lambda value: compare(op, value, operand)
    return lambda value: compare(op, value, decimal_operand if isinstance(value, Decimal) else operand)
