"""Compiled guards and event matchers: the same verdicts and moments as their uncompiled forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.config import Guards, TriggerRule
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate
from referral_automation.domain.guards import GuardContext, compile_guards
from referral_automation.domain.rules import parts_matcher
from tests.reference.guards import check_guards
from tests.reference.rules import match_event

NOW = datetime(2025, 6, 4, 10, 0, tzinfo=UTC)
OTHERS = ("staleness", "consent", "tenure", "cooldown")
KINDS = ("nps_submitted", "ticket_opened", "ticket_resolved", "milestone_reached")

ages = st.integers(-2 * 86400, 40 * 86400).map(lambda seconds: timedelta(seconds=seconds))
signals = st.sampled_from(
    [
        {"event": "nps_submitted", "when": {"property": "score", "lte": 6}},
        {"event": "ticket_resolved", "when": {"property": "csat", "lte": 2}},
        {"event": "ticket_opened", "unresolved_by": "ticket_resolved", "match_property": "ticket_id"},
        {"event": "ticket_opened", "when": {"property": "priority", "eq": "high"}},
    ]
)
guards = st.fixed_dictionaries(
    {
        "staleness": st.fixed_dictionaries({"enabled": st.booleans(), "max_age_days": st.sampled_from([1, 7, 30])}),
        "consent": st.fixed_dictionaries(
            {"enabled": st.booleans(), "require_opt_in": st.booleans(), "check_suppressions": st.booleans()}
        ),
        "tenure": st.fixed_dictionaries({"enabled": st.booleans(), "min_days": st.sampled_from([0, 30, 90])}),
        "cooldown": st.fixed_dictionaries({"enabled": st.booleans(), "days": st.sampled_from([0, 30, 90])}),
        "detractor": st.fixed_dictionaries(
            {
                "enabled": st.booleans(),
                "lookback_days": st.sampled_from([0, 7, 30]),
                "signals": st.lists(signals, max_size=3),
            }
        ),
    }
).map(Guards.model_validate)


@st.composite
def events(draw: st.DrawFn, index: int) -> EventFacts:
    kind = draw(st.sampled_from(KINDS))
    properties: dict[str, Any] = {
        "score": draw(st.integers(0, 10)),
        "csat": draw(st.one_of(st.integers(1, 5), st.text(max_size=1))),
        "ticket_id": draw(st.sampled_from(["T1", "T2"])),
        "priority": draw(st.sampled_from(["low", "high"])),
    }
    dropped = draw(st.lists(st.sampled_from(sorted(properties)), max_size=2))
    for key in dropped:
        properties.pop(key, None)
    return EventFacts(f"e{index}", "c1", kind, NOW - draw(ages), properties, index)


@st.composite
def contexts(draw: st.DrawFn) -> GuardContext:
    recent = [draw(events(index)) for index in range(draw(st.integers(0, 6)))]
    if recent and draw(st.booleans()):
        own = draw(st.sampled_from(recent))
        moment = MomentCandidate("c1", "r", own.event_id, own.occurred_at, 30, "camp", own.seq, own.event_id)
    else:
        moment = MomentCandidate("c1", "r", "time:r", NOW - draw(ages), 5, "camp")
    customer = CustomerFacts(
        customer_id="c1",
        email="ada@example.com",
        first_purchase_at=draw(st.one_of(st.none(), ages.map(lambda age: NOW - age * 4))),
        marketing_opt_in=draw(st.booleans()),
        suppressed=draw(st.booleans()),
    )
    last_request_at = draw(st.one_of(st.none(), ages.map(lambda age: NOW - age * 3)))
    return GuardContext(moment, customer, recent, last_request_at, NOW)


@settings(max_examples=400)
@given(rules=guards, ctx=contexts())
def test_compiled_guards_agree_with_check_guards(rules: Guards, ctx: GuardContext) -> None:
    """It blocks with the same guard and reason as check_guards, or passes when check_guards passes."""
    only_detractor = rules.model_copy(
        update={name: getattr(rules, name).model_copy(update={"enabled": False}) for name in OTHERS}
    )

    for checked in (rules, only_detractor):
        assert compile_guards(checked)(ctx) == check_guards(checked, ctx)


trigger_rules = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["a", "b", "c"]),
            "event": st.sampled_from(KINDS),
            "enabled": st.booleans(),
            "priority": st.integers(1, 30),
            "campaign": st.just("camp"),
            "when": st.sampled_from(
                [
                    None,
                    {"property": "score", "gte": 9},
                    {"any": [{"property": "csat", "gte": 4}, {"not": {"property": "priority", "eq": "high"}}]},
                ]
            ),
        }
    ),
    max_size=4,
).map(lambda rules: [TriggerRule.model_validate(rule) for rule in rules])


@given(rules=trigger_rules, event=events(1))
def test_a_parts_matcher_finds_the_moments_match_event_finds(rules: list[TriggerRule], event: EventFacts) -> None:
    """It returns the moments match_event returns for an event of its type (the scan hands each matcher only those)."""
    customer = CustomerFacts(customer_id="c1", email="ada@example.com")

    found = parts_matcher(rules, event.type)(
        event.event_id, event.customer_id, event.occurred_at, event.properties, event.seq, customer
    )

    assert found == match_event(rules, event, customer)
