"""Evaluate trigger-rule conditions: data from YAML, never ``eval`` of strings."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
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
    from decimal import Decimal

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
    from decimal import Decimal

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
