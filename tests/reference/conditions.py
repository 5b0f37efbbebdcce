"""Conditions interpreted node by node: the reference for ``domain.conditions.compile_condition``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from referral_automation.config import AllOf, AnyOf, Comparison, Condition, NotOf
from referral_automation.domain.conditions import MISSING, as_decimal, compare, is_decimal, lookup
from referral_automation.domain.facts import CustomerFacts


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


def _leaf(comparison: Comparison, properties: Mapping[str, Any], customer: CustomerFacts, at: datetime) -> bool:
    if comparison.property is not None:
        value = lookup(properties, comparison.property)
    else:
        assert comparison.customer is not None
        value = customer.field_value(comparison.customer, at)
        value = MISSING if value is None else value
    op = comparison.operator()
    operand = comparison.operand(op)
    if is_decimal(value):
        operand = as_decimal(operand)
    return compare(op, value, operand)
