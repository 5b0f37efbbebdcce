"""Conditions of trigger rules: operators, missing values, customer fields, nesting."""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from referral_automation.config import Condition
from referral_automation.domain.conditions import compare, compile_condition, lookup
from referral_automation.domain.facts import CustomerFacts

AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


def condition(data: dict[str, Any]) -> Any:
    """A condition parsed exactly as triggers.yaml would give it."""
    return CONDITION.validate_python(data)


def customer(**fields: Any) -> CustomerFacts:
    return CustomerFacts(customer_id="c1", email="ada@example.com", **fields)


def holds(data: dict[str, Any] | None, properties: dict[str, Any] | None = None, **fields: Any) -> bool:
    parsed = None if data is None else condition(data)
    return compile_condition(parsed)(properties or {}, customer(**fields), AT)


PROPERTY_CASES = [
    # (condition, properties, expected)
    ({"property": "score", "eq": 9}, {"score": 9}, True),
    ({"property": "score", "eq": 9}, {"score": 9.0}, True),
    ({"property": "score", "eq": 9}, {"score": 8}, False),
    ({"property": "score", "eq": 9}, {"score": "9"}, False),
    ({"property": "score", "eq": 9}, {}, False),
    ({"property": "name", "eq": "first_invoice"}, {"name": "first_invoice"}, True),
    ({"property": "flag", "eq": True}, {"flag": True}, True),
    ({"property": "flag", "eq": True}, {"flag": False}, False),
    ({"property": "flag", "eq": True}, {"flag": 1}, False),
    ({"property": "score", "eq": 1}, {"score": True}, False),
    ({"property": "score", "ne": 0}, {"score": False}, True),
    ({"property": "score", "in": [0, 1]}, {"score": True}, False),
    ({"property": "score", "not_in": [0, 1]}, {"score": False}, True),
    ({"property": "flag", "in": [True]}, {"flag": True}, True),
    ({"property": "score", "ne": 9}, {"score": 8}, True),
    ({"property": "score", "ne": 9}, {"score": 9}, False),
    ({"property": "score", "ne": 9}, {}, False),
    ({"property": "score", "gt": 8}, {"score": 9}, True),
    ({"property": "score", "gt": 9}, {"score": 9}, False),
    ({"property": "score", "gte": 9}, {"score": 9}, True),
    ({"property": "score", "gte": 9}, {"score": 8.99}, False),
    ({"property": "score", "lt": 7}, {"score": 6}, True),
    ({"property": "score", "lt": 7}, {"score": 7}, False),
    ({"property": "score", "lte": 6}, {"score": 6}, True),
    ({"property": "score", "lte": 6}, {"score": 6.5}, False),
    ({"property": "score", "gte": 9}, {}, False),
    ({"property": "score", "lte": 6}, {}, False),
    ({"property": "score", "gte": 9}, {"score": None}, False),
    ({"property": "score", "gte": 9}, {"score": "10"}, False),
    ({"property": "score", "lte": 6}, {"score": "1"}, False),
    ({"property": "score", "gte": 0}, {"score": True}, False),
    ({"property": "score", "lte": 6}, {"score": [1]}, False),
    ({"property": "score", "gte": 0}, {"score": {"value": 1}}, False),
    ({"property": "plan", "in": ["pro", "team"]}, {"plan": "pro"}, True),
    ({"property": "plan", "in": ["pro", "team"]}, {"plan": "free"}, False),
    ({"property": "plan", "in": ["pro", "team"]}, {}, False),
    ({"property": "plan", "not_in": ["free"]}, {"plan": "pro"}, True),
    ({"property": "plan", "not_in": ["free"]}, {"plan": "free"}, False),
    ({"property": "plan", "not_in": ["free"]}, {}, False),
    ({"property": "ticket_id", "exists": True}, {"ticket_id": "T1"}, True),
    ({"property": "ticket_id", "exists": True}, {"ticket_id": ""}, True),
    ({"property": "ticket_id", "exists": True}, {}, False),
    ({"property": "ticket_id", "exists": True}, {"ticket_id": None}, False),
    ({"property": "ticket_id", "exists": False}, {}, True),
    ({"property": "ticket_id", "exists": False}, {"ticket_id": None}, True),
    ({"property": "ticket_id", "exists": False}, {"ticket_id": "T1"}, False),
    ({"property": "plan.tier", "eq": "gold"}, {"plan": {"tier": "gold"}}, True),
    ({"property": "plan.tier", "eq": "gold"}, {"plan": {"tier": "silver"}}, False),
    ({"property": "plan.tier", "eq": "gold"}, {"plan": "gold"}, False),
    ({"property": "plan.tier", "exists": False}, {"plan": {}}, True),
    ({"property": "a.b.c", "gte": 1}, {"a": {"b": {"c": 2}}}, True),
    ({"property": "a.b.c", "gte": 1}, {"a": {"b": None}}, False),
]


@pytest.mark.parametrize(
    ("data", "properties", "expected"),
    PROPERTY_CASES,
    ids=[f"{c}-{p}".replace(" ", "") for c, p, _ in PROPERTY_CASES],
)
def test_property_comparison(data: dict[str, Any], properties: dict[str, Any], expected: bool) -> None:
    """It applies each operator to an event property, and a missing value satisfies only exists: false."""
    assert holds(data, properties) is expected


CUSTOMER_CASES = [
    # (condition, customer fields, expected)
    ({"customer": "lifetime_value", "gte": 50000}, {"lifetime_value": Decimal("50000.00")}, True),
    ({"customer": "lifetime_value", "gte": 50000}, {"lifetime_value": Decimal("49999.99")}, False),
    ({"customer": "lifetime_value", "gt": 0.1}, {"lifetime_value": Decimal("0.10")}, False),
    ({"customer": "lifetime_value", "gte": 0.1}, {"lifetime_value": Decimal("0.10")}, True),
    ({"customer": "lifetime_value", "lte": 99.99}, {"lifetime_value": Decimal("99.99")}, True),
    ({"customer": "lifetime_value", "lt": 99.99}, {"lifetime_value": Decimal("99.99")}, False),
    ({"customer": "lifetime_value", "eq": 99.99}, {"lifetime_value": Decimal("99.99")}, True),
    ({"customer": "lifetime_value", "ne": 99.99}, {"lifetime_value": Decimal("99.99")}, False),
    ({"customer": "lifetime_value", "in": [10, 99.99]}, {"lifetime_value": Decimal("99.99")}, True),
    ({"customer": "lifetime_value", "eq": 50000}, {"lifetime_value": Decimal("50000.00")}, True),
    ({"customer": "plan", "eq": "enterprise"}, {"plan": "enterprise"}, True),
    ({"customer": "plan", "in": ["pro", "enterprise"]}, {"plan": "free"}, False),
    ({"customer": "marketing_opt_in", "eq": True}, {"marketing_opt_in": True}, True),
    ({"customer": "marketing_opt_in", "eq": True}, {"marketing_opt_in": False}, False),
    ({"customer": "locale", "ne": "de"}, {"locale": "en"}, True),
    ({"customer": "tenure_days", "gte": 90}, {"first_purchase_at": AT - timedelta(days=90)}, True),
    ({"customer": "tenure_days", "gte": 90}, {"first_purchase_at": AT - timedelta(days=89, hours=23)}, False),
    ({"customer": "tenure_days", "lt": 30}, {"first_purchase_at": AT - timedelta(days=2)}, True),
    ({"customer": "tenure_days", "gte": 0}, {}, False),
    ({"customer": "tenure_days", "exists": False}, {}, True),
    ({"customer": "first_purchase_at", "exists": True}, {"first_purchase_at": AT}, True),
    ({"customer": "first_purchase_at", "exists": False}, {}, True),
    ({"customer": "first_purchase_at", "gte": 0}, {"first_purchase_at": AT}, False),
    ({"customer": "company", "exists": True}, {"company": "Acme"}, True),
]


@pytest.mark.parametrize(
    ("data", "fields", "expected"),
    CUSTOMER_CASES,
    ids=[f"{c}-{f}".replace(" ", "") for c, f, _ in CUSTOMER_CASES],
)
def test_customer_comparison(data: dict[str, Any], fields: dict[str, Any], expected: bool) -> None:
    """It compares customer fields (decimals as written, tenure_days at the moment's time)."""
    assert holds(data, **fields) is expected


NESTED_CASES = [
    ("no-condition", None, {"score": 1}, True),
    ("all-true", {"all": [{"property": "score", "gte": 9}, {"property": "channel", "eq": "web"}]},
     {"score": 10, "channel": "web"}, True),
    ("all-one-false", {"all": [{"property": "score", "gte": 9}, {"property": "channel", "eq": "web"}]},
     {"score": 10, "channel": "app"}, False),
    ("any-one-true", {"any": [{"property": "score", "gte": 9}, {"property": "channel", "eq": "web"}]},
     {"score": 1, "channel": "web"}, True),
    ("any-none-true", {"any": [{"property": "score", "gte": 9}, {"property": "channel", "eq": "web"}]},
     {"score": 1}, False),
    ("not-true", {"not": {"property": "score", "lte": 6}}, {"score": 9}, True),
    ("not-false", {"not": {"property": "score", "lte": 6}}, {"score": 3}, False),
    ("not-missing", {"not": {"property": "score", "lte": 6}}, {}, True),
    ("all-any-not", {"all": [{"any": [{"property": "a", "eq": 1}, {"property": "b", "eq": 1}]},
                             {"not": {"property": "c", "exists": True}}]}, {"b": 1}, True),
    ("all-any-not-blocked", {"all": [{"any": [{"property": "a", "eq": 1}, {"property": "b", "eq": 1}]},
                                     {"not": {"property": "c", "exists": True}}]}, {"b": 1, "c": 0}, False),
    ("not-not", {"not": {"not": {"property": "a", "eq": 1}}}, {"a": 1}, True),
    ("customer-and-property", {"all": [{"customer": "plan", "eq": "pro"}, {"property": "score", "gte": 9}]},
     {"score": 9}, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "properties", "expected"), [c[1:] for c in NESTED_CASES], ids=[c[0] for c in NESTED_CASES]
)
def test_nesting(data: dict[str, Any] | None, properties: dict[str, Any], expected: bool) -> None:
    """It combines comparisons with all, any and not, to any depth."""
    assert holds(data, properties, plan="pro") is expected


def test_lookup_follows_dotted_paths_through_mappings_only() -> None:
    """It reads a dotted path through nested mappings; a path through a list or a scalar is missing."""
    assert lookup({"a": {"b": 2}}, "a.b") == 2
    assert compare("exists", lookup({"a": {"b": 2}}, "a.c"), False) is True
    assert compare("exists", lookup({"a": [1]}, "a.0"), False) is True
    assert compare("exists", lookup({"a": "text"}, "a.length"), False) is True


ORDERING = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False))


@given(op=st.sampled_from(sorted(ORDERING)), value=numbers, operand=numbers)
def test_ordering_agrees_with_python(op: str, value: float, operand: float) -> None:
    """Ordering operators on numeric properties agree with Python's own comparisons."""
    assert holds({"property": "x", op: operand}, {"x": value}) is ORDERING[op](value, operand)


@given(
    op=st.sampled_from(sorted(ORDERING)),
    value=st.decimals(min_value=-(10**6), max_value=10**6, places=2),
    operand=st.decimals(min_value=-(10**6), max_value=10**6, places=2),
)
def test_decimal_ordering_uses_the_written_number(op: str, value: Decimal, operand: Decimal) -> None:
    """A decimal customer field is compared with the operand as written in YAML, not its binary float."""
    result = holds({"customer": "lifetime_value", op: float(operand)}, lifetime_value=value)
    assert result is ORDERING[op](value, operand)
