"""Trigger rules: events that match, moments that come with time, and which moment wins."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_automation.config import Guards, TriggerRule
from referral_automation.config.base import MAX_DAYS
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate, tenure_days
from referral_automation.domain.rules import due_time_moments, parts_matcher, rank, time_source_key

NOW = datetime(2025, 6, 4, 10, 0, tzinfo=UTC)
CUSTOMER = CustomerFacts(
    customer_id="c1",
    email="ada@example.com",
    plan="pro",
    first_purchase_at=NOW - timedelta(days=200),
    marketing_opt_in=True,
)


def rule(**fields: Any) -> TriggerRule:
    data: dict[str, Any] = {"id": "r", "priority": 10, "campaign": "customer_referral", **fields}
    if "after" not in data:
        data.setdefault("event", "nps_submitted")
    return TriggerRule.model_validate(data)


SHIPPED_RULES = [
    rule(id="nps_promoter", event="nps_submitted", when={"property": "score", "gte": 9}, priority=30),
    rule(id="delighted_support", event="ticket_resolved", when={"property": "csat", "gte": 4}, priority=20),
    rule(id="milestone", event="milestone_reached", priority=10),
    rule(id="settled_in", enabled=False, after={"days": 120, "since": "first_purchase_at"}, priority=5),
]


def match_event(rules: list[TriggerRule], event: EventFacts, customer: CustomerFacts) -> list[MomentCandidate]:
    """The moments detection finds in ``event`` (its type's rules, as the scan matches them)."""
    match = parts_matcher(rules, event.type)
    return match(event.event_id, event.customer_id, event.occurred_at, event.properties, event.seq, customer)


def event(type_: str, **properties: Any) -> EventFacts:
    return EventFacts(
        event_id="e1", customer_id="c1", type=type_, occurred_at=NOW - timedelta(hours=2), properties=properties, seq=41
    )


MATCH_CASES = [
    ("promoter-10", event("nps_submitted", score=10), ["nps_promoter"]),
    ("promoter-9", event("nps_submitted", score=9), ["nps_promoter"]),
    ("passive-8", event("nps_submitted", score=8), []),
    ("detractor-2", event("nps_submitted", score=2), []),
    ("score-missing", event("nps_submitted"), []),
    ("score-as-text", event("nps_submitted", score="10"), []),
    ("csat-5", event("ticket_resolved", ticket_id="T1", csat=5), ["delighted_support"]),
    ("csat-3", event("ticket_resolved", ticket_id="T1", csat=3), []),
    ("milestone", event("milestone_reached", name="first_invoice"), ["milestone"]),
    ("unknown-type", event("page_viewed", url="/"), []),
    ("purchase", event("purchase", amount=10), []),
]


@pytest.mark.parametrize(("evt", "expected"), [c[1:] for c in MATCH_CASES], ids=[c[0] for c in MATCH_CASES])
def test_match_event_with_the_shipped_rules(evt: EventFacts, expected: list[str]) -> None:
    """It turns an event into a candidate for each enabled rule of its type whose condition holds."""
    assert [c.rule_id for c in match_event(SHIPPED_RULES, evt, CUSTOMER)] == expected


def test_a_candidate_carries_the_event_and_the_rule() -> None:
    """It keys an event moment by the event id and keeps the rule's priority and campaign."""
    evt = event("nps_submitted", score=10)
    assert match_event(SHIPPED_RULES, evt, CUSTOMER) == [
        MomentCandidate(
            customer_id="c1",
            rule_id="nps_promoter",
            source_key="e1",
            occurred_at=evt.occurred_at,
            priority=30,
            campaign="customer_referral",
            event_seq=41,
            event_id="e1",
        )
    ]


def test_every_matching_rule_gives_a_candidate_and_disabled_rules_none() -> None:
    """It returns one candidate per matching enabled rule and skips disabled ones."""
    rules = [
        rule(id="a", when={"property": "score", "gte": 9}),
        rule(id="b", when={"customer": "plan", "eq": "pro"}),
        rule(id="c", enabled=False),
        rule(id="d", when={"customer": "plan", "eq": "enterprise"}),
    ]
    assert [c.rule_id for c in match_event(rules, event("nps_submitted", score=9), CUSTOMER)] == ["a", "b"]


def test_customer_conditions_are_evaluated_at_the_events_time() -> None:
    """It computes tenure_days at the event's time, not at detection."""
    tenured = rule(id="tenured", when={"customer": "tenure_days", "gte": 90})
    customer = CustomerFacts(customer_id="c1", email="a@example.com", first_purchase_at=NOW - timedelta(days=90))
    assert match_event([tenured], event("nps_submitted", score=9), customer) == []
    customer = CustomerFacts(customer_id="c1", email="a@example.com", first_purchase_at=NOW - timedelta(days=91))
    assert [c.rule_id for c in match_event([tenured], event("nps_submitted", score=9), customer)] == ["tenured"]


SETTLED = rule(id="settled_in", after={"days": 120}, priority=5)
MAX_AGE = timedelta(days=7)
TIME_CASES = [
    ("due-exactly-now", timedelta(days=120), True),
    ("due-an-hour-ago", timedelta(days=120, hours=1), True),
    ("due-six-days-ago", timedelta(days=126), True),
    ("due-exactly-max-age-ago", timedelta(days=127), True),
    ("stale", timedelta(days=127, seconds=1), False),
    ("long-past", timedelta(days=400), False),
    ("not-yet-due", timedelta(days=119, hours=23), False),
]


@pytest.mark.parametrize(("since", "due"), [c[1:] for c in TIME_CASES], ids=[c[0] for c in TIME_CASES])
def test_time_based_rules(since: timedelta, due: bool) -> None:
    """It gives a time-based moment once its time has come and while it is at most max_age old."""
    customer = CustomerFacts(customer_id="c1", email="a@example.com", first_purchase_at=NOW - since)
    found = due_time_moments([SETTLED], customer, now=NOW, max_age=MAX_AGE)
    if not due:
        assert found == []
        return
    assert found == [
        MomentCandidate(
            customer_id="c1",
            rule_id="settled_in",
            source_key=time_source_key(SETTLED),
            occurred_at=customer.first_purchase_at + timedelta(days=120),  # type: ignore[operator]
            priority=5,
            campaign="customer_referral",
        )
    ]


def test_time_based_rules_skip_customers_without_the_date_and_disabled_rules() -> None:
    """It gives no time-based moment to a customer without a first purchase or for a disabled rule."""
    no_purchase = CustomerFacts(customer_id="c1", email="a@example.com")
    assert due_time_moments([SETTLED], no_purchase, now=NOW, max_age=MAX_AGE) == []
    customer = CustomerFacts(customer_id="c1", email="a@example.com", first_purchase_at=NOW - timedelta(days=121))
    disabled = SETTLED.model_copy(update={"enabled": False})
    assert due_time_moments([disabled, *SHIPPED_RULES[:3]], customer, now=NOW, max_age=MAX_AGE) == []


def test_time_based_rules_apply_customer_conditions_at_the_moments_time() -> None:
    """It evaluates a time-based rule's customer conditions at the moment's time."""
    pro_only = rule(id="pro", after={"days": 120}, when={"customer": "plan", "eq": "pro"})
    customer = CustomerFacts(
        customer_id="c1", email="a@example.com", plan="pro", first_purchase_at=NOW - timedelta(days=121)
    )
    assert [c.rule_id for c in due_time_moments([pro_only], customer, now=NOW, max_age=MAX_AGE)] == ["pro"]
    free = replace(customer, plan="free")
    assert due_time_moments([pro_only], free, now=NOW, max_age=MAX_AGE) == []
    exact = rule(id="exact", after={"days": 120}, when={"customer": "tenure_days", "eq": 120})
    assert [c.rule_id for c in due_time_moments([exact], customer, now=NOW, max_age=MAX_AGE)] == ["exact"]


def test_time_source_key_names_only_the_rule() -> None:
    """It keys a time-based moment by its rule alone, so it fires at most once per customer."""
    assert time_source_key(SETTLED) == "time:settled_in"


def test_a_rule_may_override_a_guard() -> None:
    """It replaces a whole guard named under the rule's guards and keeps the others."""
    defaults = Guards()
    relaxed = rule(guards={"tenure": {"min_days": 30}, "cooldown": {"enabled": False}})
    effective = relaxed.effective_guards(defaults)
    assert effective.tenure.min_days == 30
    assert effective.cooldown.enabled is False
    assert effective.staleness == defaults.staleness
    assert rule().effective_guards(defaults) == defaults


def candidate(rule_id: str, priority: int, hours_ago: float, source_key: str = "e") -> MomentCandidate:
    return MomentCandidate(
        customer_id="c1",
        rule_id=rule_id,
        source_key=source_key,
        occurred_at=NOW - timedelta(hours=hours_ago),
        priority=priority,
        campaign="customer_referral",
    )


def test_rank_orders_by_priority_then_recency_then_key() -> None:
    """It ranks the highest priority first, then the most recent, then by rule and key for stability."""
    a = candidate("milestone", 10, 1)
    b = candidate("nps_promoter", 30, 50)
    c = candidate("nps_promoter", 30, 2)
    d = candidate("delighted_support", 20, 3)
    e = candidate("another", 20, 3)
    f = candidate("another", 20, 3, source_key="f")
    assert rank([a, b, c, d, e, f]) == [c, b, e, f, d, a]
    assert rank([]) == []


candidates = st.lists(
    st.builds(
        candidate,
        rule_id=st.sampled_from(["nps_promoter", "milestone", "delighted_support"]),
        priority=st.integers(-5, 50),
        hours_ago=st.floats(0, 1000, allow_nan=False),
        source_key=st.text("abc", min_size=1, max_size=3),
    ),
    max_size=12,
)


@given(candidates)
def test_rank_is_a_permutation_with_the_top_priority_first(items: list[MomentCandidate]) -> None:
    """It returns the same candidates, the first having the highest priority, whatever the input order."""
    ranked = rank(items)
    assert sorted(ranked, key=repr) == sorted(items, key=repr)
    if items:
        assert ranked[0].priority == max(c.priority for c in items)
        assert rank(list(reversed(items))) == ranked
    assert [c.priority for c in ranked] == sorted((c.priority for c in items), reverse=True)


@given(
    first_purchase=st.datetimes(timezones=st.just(UTC)),
    days=st.integers(0, MAX_DAYS),
    now=st.datetimes(timezones=st.just(UTC)),
)
def test_a_time_based_moment_beyond_the_calendar_never_comes(
    first_purchase: datetime, days: int, now: datetime
) -> None:
    """It gives no moment, and raises nothing, when the rule's days (as many as a rule may have) take
    a first purchase past year 9999."""
    customer = CustomerFacts(customer_id="c1", email="a@example.com", first_purchase_at=first_purchase)
    far = rule(id="far", after={"days": days}, when={"customer": "tenure_days", "gte": 0})

    found = due_time_moments([far], customer, now=now, max_age=MAX_AGE)

    if days > (datetime.max.replace(tzinfo=UTC) - first_purchase).days:
        assert found == []


def test_the_last_first_purchase_the_calendar_holds_gives_no_moment() -> None:
    """It skips a customer whose first purchase is 9999-12-31 (issue 13) instead of stopping detection."""
    customer = CustomerFacts(
        customer_id="c1", email="a@example.com", first_purchase_at=datetime.max.replace(tzinfo=UTC)
    )

    assert due_time_moments([SETTLED], customer, now=NOW, max_age=MAX_AGE) == []


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_tenure_is_defined_between_any_two_times(first_purchase: datetime, at: datetime) -> None:
    """It gives the days between any first purchase and any moment the calendar holds."""
    customer = CustomerFacts(customer_id="c1", email="a@example.com", first_purchase_at=first_purchase)

    assert tenure_days(customer, at) == (at - first_purchase).total_seconds() / 86400
