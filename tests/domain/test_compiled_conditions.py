"""Compiled conditions: the same verdict as ``evaluate`` for any condition, event and customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from referral_automation.config import CUSTOMER_FIELDS, Comparison, Condition
from referral_automation.domain.conditions import compile_condition
from referral_automation.domain.facts import CustomerFacts
from tests.reference.conditions import evaluate

AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)
NAMES = ("score", "plan", "flag", "a", "a.b", "a.b.c")

scalars = st.one_of(
    st.booleans(),
    st.integers(-20, 20),
    st.floats(-20, 20, allow_nan=False),
    st.sampled_from(["pro", "team", "", "9"]),
)
values = st.recursive(
    st.one_of(
        st.none(),
        scalars,
        st.floats(allow_nan=True),
        st.decimals(min_value=-20, max_value=20, places=2),
        st.lists(scalars, max_size=2),
    ),
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    max_leaves=6,
)
properties = st.dictionaries(st.sampled_from(["score", "plan", "flag", "a"]), values, max_size=4)


@st.composite
def comparisons(draw: st.DrawFn) -> dict[str, Any]:
    field: dict[str, Any] = draw(
        st.one_of(
            st.sampled_from(NAMES).map(lambda name: {"property": name}),
            st.sampled_from(sorted(CUSTOMER_FIELDS)).map(lambda name: {"customer": name}),
        )
    )
    op = draw(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists"]))
    if op in ("eq", "ne"):
        operand: Any = draw(scalars)
    elif op in ("in", "not_in"):
        operand = draw(st.lists(scalars, max_size=3))
    elif op == "exists":
        operand = draw(st.booleans())
    else:
        operand = draw(st.floats(-20, 20, allow_nan=False))
    return {**field, op: operand}


conditions = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"all": parts}),
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"any": parts}),
        inner.map(lambda part: {"not": part}),
    ),
    max_leaves=5,
)
customers = st.builds(
    CustomerFacts,
    customer_id=st.just("c1"),
    email=st.just("ada@example.com"),
    plan=st.sampled_from(["pro", "team", ""]),
    lifetime_value=st.decimals(min_value=-20, max_value=20, places=2),
    first_purchase_at=st.one_of(st.none(), st.integers(0, 40).map(lambda days: AT - timedelta(days=days))),
    marketing_opt_in=st.booleans(),
)


@settings(max_examples=400)
@given(data=st.one_of(st.none(), conditions), event=properties, customer=customers)
def test_a_compiled_condition_agrees_with_evaluate(
    data: dict[str, Any] | None, event: dict[str, Any], customer: CustomerFacts
) -> None:
    """It gives the verdict evaluate gives, for any nesting, operator, operand, property and customer."""
    condition = None if data is None else CONDITION.validate_python(data)

    compiled = compile_condition(condition)

    assert compiled(event, customer, AT) is evaluate(condition, properties=event, customer=customer, at=AT)


def test_a_decimal_field_is_compared_with_the_operand_as_written() -> None:
    """It compares a decimal customer field with 0.1 as written, not with 0.1's binary float."""
    customer = CustomerFacts(customer_id="c1", email="a@example.com", lifetime_value=Decimal("0.10"))

    assert compile_condition(CONDITION.validate_python({"customer": "lifetime_value", "gte": 0.1}))({}, customer, AT)
    assert not compile_condition(CONDITION.validate_python({"customer": "lifetime_value", "gt": 0.1}))({}, customer, AT)


def test_the_operator_is_known_without_scanning_every_field() -> None:
    """It remembers a comparison's operator once validated, and still finds it on an unvalidated copy."""
    validated = Comparison.model_validate({"property": "score", "in": [9, 10]})
    constructed = Comparison.model_construct(property="score", lte=6.0)

    assert (validated.operator(), validated.operand("in")) == ("in", [9, 10])
    assert constructed.operator() == "lte"
