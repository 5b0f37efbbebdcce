"""Evaluate trigger-rule conditions: data from YAML, never ``eval`` of strings."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from referral_automation.config import AllOf, AnyOf, Comparison, Condition, NotOf
from referral_automation.domain.facts import CustomerFacts

_MISSING = object()

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def lookup(properties: Mapping[str, Any], path: str) -> Any:
    """A possibly dotted property path (``plan.tier``), or ``_MISSING``."""
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def compare(op: str, value: Any, operand: Any) -> bool:
    """Apply one operator. A missing value satisfies only ``exists: false``; ordering operators
    are false for values that are not numbers (a string never "is at least 9")."""
    if op == "exists":
        return bool((value is not _MISSING and value is not None) == operand)
    if value is _MISSING:
        return False
    if op == "eq":
        return _same(value, operand)
    if op == "ne":
        return not _same(value, operand)
    if op == "in":
        return any(_same(value, item) for item in operand)
    if op == "not_in":
        return not any(_same(value, item) for item in operand)
    if isinstance(value, bool) or (not isinstance(value, int | float) and not _is_decimal(value)):
        return False
    return bool(_ORDERING[op](value, operand))


def _same(value: Any, operand: Any) -> bool:
    """Equality as in JSON: ``true`` is not ``1`` (Python's ``True == 1`` would say it is)."""
    return isinstance(value, bool) == isinstance(operand, bool) and bool(value == operand)


def _is_decimal(value: Any) -> bool:
    return isinstance(value, Decimal)


def _leaf(comparison: Comparison, properties: Mapping[str, Any], customer: CustomerFacts, at: datetime) -> bool:
    if comparison.property is not None:
        value = lookup(properties, comparison.property)
    else:
        assert comparison.customer is not None
        value = customer.field_value(comparison.customer, at)
        value = _MISSING if value is None else value
    op = comparison.operator()
    operand = comparison.operand(op)
    if _is_decimal(value):
        operand = _as_decimal(operand)
    return compare(op, value, operand)


def _as_decimal(operand: Any) -> Any:
    """The number as written in YAML (``0.1``, not its binary float), to compare with a decimal field."""
    if isinstance(operand, list):
        return [_as_decimal(item) for item in operand]
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return Decimal(str(operand))
    return operand


def evaluate(
    condition: Condition | None,
    *,
    properties: Mapping[str, Any],
    customer: CustomerFacts,
    at: datetime,
) -> bool:
    """True when ``condition`` holds for an event's properties and its customer at time ``at``.
    No condition means "always"."""
    if condition is None:
        return True
    if isinstance(condition, AllOf):
        return all(evaluate(c, properties=properties, customer=customer, at=at) for c in condition.all)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, properties=properties, customer=customer, at=at) for c in condition.any)
    if isinstance(condition, NotOf):
        return not evaluate(condition.not_, properties=properties, customer=customer, at=at)
    return _leaf(condition, properties, customer, at)


#: A condition made into one function of (event properties, customer, moment time).
Check = Callable[[Mapping[str, Any], CustomerFacts, datetime], bool]


def compile_condition(condition: Condition | None) -> Check:
    """``condition`` as one function that agrees with ``evaluate`` on every input.

    Detection applies a rule's condition to every event of its type: compiling walks the tree and
    resolves each comparison's field, operator and operand once, not once per event.
    """
    if condition is None:
        return _always
    if isinstance(condition, AllOf):
        return _all_of(tuple(compile_condition(c) for c in condition.all))
    if isinstance(condition, AnyOf):
        return _any_of(tuple(compile_condition(c) for c in condition.any))
    if isinstance(condition, NotOf):
        inner = compile_condition(condition.not_)
        return lambda properties, customer, at: not inner(properties, customer, at)
    return _compile_leaf(condition)


def _always(_properties: Mapping[str, Any], _customer: CustomerFacts, _at: datetime) -> bool:
    return True


def _all_of(parts: tuple[Check, ...]) -> Check:
    if len(parts) == 1:
        return parts[0]
    return lambda properties, customer, at: all(part(properties, customer, at) for part in parts)


def _any_of(parts: tuple[Check, ...]) -> Check:
    if len(parts) == 1:
        return parts[0]
    return lambda properties, customer, at: any(part(properties, customer, at) for part in parts)


def _compile_leaf(comparison: Comparison) -> Check:
    read = _reader(comparison)
    test = _tester(comparison.operator(), comparison.operand(comparison.operator()))
    return lambda properties, customer, at: test(read(properties, customer, at))


def _reader(comparison: Comparison) -> Callable[[Mapping[str, Any], CustomerFacts, datetime], Any]:
    """The compared value (``_MISSING`` when absent), as ``_leaf`` reads it."""
    if comparison.customer is not None:
        name = comparison.customer

        def customer_field(_properties: Mapping[str, Any], customer: CustomerFacts, at: datetime) -> Any:
            value = customer.field_value(name, at)
            return _MISSING if value is None else value

        return customer_field
    path = comparison.property
    assert path is not None
    if "." in path:
        return lambda properties, _customer, _at: lookup(properties, path)

    def top_level(properties: Mapping[str, Any], _customer: CustomerFacts, _at: datetime) -> Any:
        if type(properties) is dict:  # the common case, as ``lookup`` would read it
            return properties.get(path, _MISSING)
        return lookup(properties, path)

    return top_level


def _tester(op: str, operand: Any) -> Callable[[Any], bool]:
    """``compare(op, value, operand)`` with the operand resolved once (and its decimal form too)."""
    decimal_operand = _as_decimal(operand)
    if op in _ORDERING:
        order = _ORDERING[op]

        def ordering(value: Any) -> bool:
            if value is _MISSING or isinstance(value, bool):
                return False
            if isinstance(value, int | float):
                return bool(order(value, operand))
            return isinstance(value, Decimal) and bool(order(value, decimal_operand))

        return ordering
    if op == "exists":
        return lambda value: compare(op, value, operand)
    return lambda value: compare(op, value, decimal_operand if isinstance(value, Decimal) else operand)
