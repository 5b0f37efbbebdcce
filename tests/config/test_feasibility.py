"""Conditions no event can meet: found with the comparison to blame, and held to what detection does.

The verdicts are checked two ways: a table of the mistakes marketers make, and a reference test
that holds them to ``domain.conditions`` (the code detection runs) over every value a small
property can take, on random comparisons and random condition trees.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from referral_automation.config import Condition, EventType, PropertySpec
from referral_automation.config.feasibility import Domain, judge, leaf_verdict, never_matches
from referral_automation.domain.conditions import MISSING, compare, compile_condition
from referral_automation.domain.facts import CustomerFacts
from tests.support.detect_factories import NOW

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
EVENTS = {
    "nps_submitted": EventType(properties={"score": PropertySpec(type="integer", min=0, max=10)}),
    "ticket_resolved": EventType(
        properties={"ticket_id": PropertySpec(type="string"), "csat": PropertySpec(type="integer", min=1, max=5)}
    ),
    "purchase": EventType(properties={"amount": PropertySpec(type="number", min=0), "gift": PropertySpec(
        type="boolean", required=False)}),
}  # fmt: skip


def reasons(event: str, condition: dict[str, Any]) -> list[str]:
    return [why for _where, why in never_matches(CONDITION.validate_python(condition), event, EVENTS[event])]


NPS = "nps_submitted's score is an integer from 0 to 10 (events.yaml)"
NEVER = [
    ("above the scale", "nps_submitted", {"property": "score", "gte": 11}, [f"'score gte 11' is never true: {NPS}"]),
    ("gt the top", "nps_submitted", {"property": "score", "gt": 10}, [f"'score gt 10' is never true: {NPS}"]),
    ("below the scale", "nps_submitted", {"property": "score", "lt": 0}, [f"'score lt 0' is never true: {NPS}"]),
    ("text on an integer", "nps_submitted", {"property": "score", "eq": "9"}, [f"'score eq '9'' is never true: {NPS}"]),
    ("a fraction on an integer", "nps_submitted", {"property": "score", "eq": 9.5},
     [f"'score eq 9.5' is never true: {NPS}"]),
    ("true is not 1", "nps_submitted", {"property": "score", "eq": True}, [f"'score eq true' is never true: {NPS}"]),
    ("in, none in range", "nps_submitted", {"property": "score", "in": [11, 12]},
     [f"'score in [11, 12]' is never true: {NPS}"]),
    ("not_in every value", "ticket_resolved", {"property": "csat", "not_in": [1, 2, 3, 4, 5]},
     ["'csat not_in [1, 2, 3, 4, 5]' is never true: ticket_resolved's csat is an integer from 1 to 5 (events.yaml)"]),
    ("a required property is never absent", "nps_submitted", {"property": "score", "exists": False},
     [f"'score exists false' is never true: {NPS}"]),
    ("ordering text", "ticket_resolved", {"property": "ticket_id", "gte": 3},
     ["'ticket_id gte 3' is never true: ticket_resolved's ticket_id is text (events.yaml)"]),
    ("not of always", "nps_submitted", {"not": {"property": "score", "gte": 0}},
     [f"'score gte 0' is always true: {NPS}"]),
    ("all with one impossible", "nps_submitted",
     {"all": [{"property": "score", "gte": 11}, {"customer": "plan", "eq": "pro"}]},
     [f"'score gte 11' is never true: {NPS}"]),
    ("any of impossibles", "nps_submitted",
     {"any": [{"property": "score", "gte": 11}, {"property": "score", "eq": "x"}]},
     [f"'score gte 11' is never true: {NPS}", f"'score eq 'x'' is never true: {NPS}"]),
]  # fmt: skip
POSSIBLE = [
    ("the top of the scale", "nps_submitted", {"property": "score", "gte": 10}),
    ("a whole float", "nps_submitted", {"property": "score", "eq": 9.0}),
    ("lt a fraction above the bottom", "nps_submitted", {"property": "score", "lt": 0.5}),
    ("in, one in range", "nps_submitted", {"property": "score", "in": [10, 11]}),
    ("any with one possible", "nps_submitted",
     {"any": [{"property": "score", "gte": 11}, {"property": "score", "eq": 9}]}),
    ("an optional property may be absent", "purchase", {"property": "gift", "exists": False}),
    ("ne null of an optional", "purchase", {"not": {"property": "gift", "ne": True}}),
    ("a customer field is not judged", "nps_submitted", {"customer": "lifetime_value", "gte": -1e12}),
    ("a dotted path is not judged", "ticket_resolved", {"property": "ticket_id.x", "eq": 1}),
    ("an unbounded number", "purchase", {"property": "amount", "gt": 1e12}),
]  # fmt: skip


@pytest.mark.parametrize(("event", "condition", "expected"), [c[1:] for c in NEVER], ids=[c[0] for c in NEVER])
def test_a_condition_that_can_never_match_is_found(event: str, condition: dict[str, Any], expected: list[str]) -> None:
    """It says which comparison makes the condition impossible, and what events.yaml says of the property."""
    assert reasons(event, condition) == expected


@pytest.mark.parametrize(("event", "condition"), [c[1:] for c in POSSIBLE], ids=[c[0] for c in POSSIBLE])
def test_a_condition_that_may_match_is_left_alone(event: str, condition: dict[str, Any]) -> None:
    """It stays silent on every condition some event may meet, or that it cannot judge."""
    assert reasons(event, condition) == []


def test_the_warning_points_at_the_operator_line() -> None:
    """It locates each reason at the operator's key inside the condition (where the line is)."""
    condition = CONDITION.validate_python({"all": [{"property": "score", "gte": 9}, {"property": "score", "gt": 10}]})
    assert [where for where, _ in never_matches(condition, "nps_submitted", EVENTS["nps_submitted"], ("when",))] == [
        ("when", "all", 1, "gt")
    ]


# --------------------------------------------------------------------------- held to domain.conditions
SMALL_SPECS = st.one_of(
    st.builds(lambda low, span, required: PropertySpec(type="integer", min=low, max=low + span, required=required),
              st.integers(-3, 3), st.integers(0, 4), st.booleans()),
    st.builds(lambda required: PropertySpec(type="boolean", required=required), st.booleans()),
)  # fmt: skip
SCALARS = st.one_of(
    st.integers(-6, 9), st.floats(-6, 9).map(lambda x: round(x * 2) / 2), st.booleans(), st.sampled_from(["1", "a"])
)
NUMBERS = st.one_of(st.integers(-6, 9), st.floats(-6, 9).map(lambda x: round(x * 2) / 2))
COMPARISONS = st.one_of(
    st.builds(lambda op, x: {"property": "p", op: x}, st.sampled_from(["eq", "ne"]), SCALARS),
    st.builds(lambda op, xs: {"property": "p", op: xs}, st.sampled_from(["in", "not_in"]),
              st.lists(SCALARS, max_size=6)),
    st.builds(lambda op, x: {"property": "p", op: x}, st.sampled_from(["gt", "gte", "lt", "lte"]), NUMBERS),
    st.builds(lambda x: {"property": "p", "exists": x}, st.booleans()),
)  # fmt: skip
TREES = st.recursive(
    COMPARISONS,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
    ),
    max_leaves=6,
)


def every_value(spec: PropertySpec) -> list[Any]:
    """Every value an event may carry for the property: each member, and absent and null if optional."""
    members = Domain.of(spec).members()
    assert members is not None
    return [*members, *([MISSING, None] if not spec.required else [])]


def properties(value: Any) -> dict[str, Any]:
    return {} if value is MISSING else {"p": value}


@settings(max_examples=400, deadline=None)
@given(SMALL_SPECS, COMPARISONS)
def test_a_comparison_verdict_is_what_detection_decides(spec: PropertySpec, raw: dict[str, Any]) -> None:
    """It says a comparison can be true (and false) exactly when some value makes detection's compare say so."""
    comparison = CONDITION.validate_python(raw)
    op = comparison.operator()
    outcomes = {compare(op, value, comparison.operand(op)) for value in every_value(spec)}
    assert leaf_verdict(comparison, Domain.of(spec)) == (True in outcomes, False in outcomes)


@settings(max_examples=300, deadline=None)
@given(SMALL_SPECS, TREES)
def test_a_tree_called_impossible_never_matches(spec: PropertySpec, raw: dict[str, Any]) -> None:
    """It never calls a condition impossible (or always true) that some value lets detection match (or not)."""
    condition = CONDITION.validate_python(raw)
    check = compile_condition(condition)
    nobody = CustomerFacts(customer_id="x", email="x@example.com")
    outcomes = {check(properties(value), nobody, NOW) for value in every_value(spec)}
    verdict = judge(condition, "e", EventType(properties={"p": spec}))
    assert verdict.can_true or True not in outcomes
    assert verdict.can_false or False not in outcomes
    assert bool(verdict.never_true) == (not verdict.can_true)
