"""Match events and the passing of time against trigger rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from referral_automation.config import TriggerRule
from referral_automation.domain.conditions import compile_condition, evaluate
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate


def time_source_key(rule: TriggerRule) -> str:
    """A time-based rule fires at most once per customer: its key names only the rule."""
    return f"time:{rule.id}"


def match_event(rules: Iterable[TriggerRule], event: EventFacts, customer: CustomerFacts) -> list[MomentCandidate]:
    """Every enabled event rule that ``event`` satisfies, as moment candidates."""
    return [
        MomentCandidate(
            customer_id=event.customer_id,
            rule_id=rule.id,
            source_key=event.event_id,
            occurred_at=event.occurred_at,
            priority=rule.priority,
            campaign=rule.campaign,
            event_seq=event.seq,
            event_id=event.event_id,
        )
        for rule in rules
        if rule.enabled
        and rule.event == event.type
        and evaluate(rule.when, properties=event.properties, customer=customer, at=event.occurred_at)
    ]


#: ``match_event`` for one event type's rules, made once: (event, customer) → its moments.
EventMatcher = Callable[[EventFacts, CustomerFacts], list[MomentCandidate]]
#: The same for an event given as its parts (event id, customer id, time, properties, seq), so a
#: scan of many thousand events builds no ``EventFacts`` for them.
PartsMatcher = Callable[[str, str, datetime, Mapping[str, Any], int | None, CustomerFacts], list[MomentCandidate]]


def parts_matcher(rules: Iterable[TriggerRule], event_type: str) -> PartsMatcher:
    """``match_event`` over the enabled ``rules`` of ``event_type`` for an event of that type given
    as its parts, the rules' conditions compiled once (detection matches every event of the type
    against the same few rules)."""
    compiled = [(rule, compile_condition(rule.when)) for rule in rules if rule.enabled and rule.event == event_type]

    def match(
        event_id: str,
        customer_id: str,
        occurred_at: datetime,
        properties: Mapping[str, Any],
        seq: int | None,
        customer: CustomerFacts,
    ) -> list[MomentCandidate]:
        return [
            MomentCandidate(customer_id, rule.id, event_id, occurred_at, rule.priority, rule.campaign, seq, event_id)
            for rule, check in compiled
            if check(properties, customer, occurred_at)
        ]

    return match


def event_matcher(rules: Iterable[TriggerRule], event_type: str) -> EventMatcher:
    """``match_event`` over the enabled ``rules`` of ``event_type``, their conditions compiled once."""
    match_parts = parts_matcher(rules, event_type)

    def match(event: EventFacts, customer: CustomerFacts) -> list[MomentCandidate]:
        if event.type != event_type:
            return []
        return match_parts(event.event_id, event.customer_id, event.occurred_at, event.properties, event.seq, customer)

    return match


def time_moment_at(rule: TriggerRule, customer: CustomerFacts) -> datetime | None:
    """When a time-based rule's moment happens for this customer (None if it cannot)."""
    assert rule.after is not None
    since = getattr(customer, rule.after.since)
    return None if since is None else since + timedelta(days=rule.after.days)


def due_time_moments(
    rules: Iterable[TriggerRule], customer: CustomerFacts, *, now: datetime, max_age: timedelta
) -> list[MomentCandidate]:
    """Time-based moments that have come for ``customer`` by ``now`` and are at most ``max_age`` old."""
    found = []
    for rule in rules:
        if not rule.enabled or rule.after is None:
            continue
        at = time_moment_at(rule, customer)
        if at is None or at > now or now - at > max_age:
            continue
        if evaluate(rule.when, properties={}, customer=customer, at=at):
            found.append(
                MomentCandidate(
                    customer_id=customer.customer_id,
                    rule_id=rule.id,
                    source_key=time_source_key(rule),
                    occurred_at=at,
                    priority=rule.priority,
                    campaign=rule.campaign,
                )
            )
    return found


def rank(candidates: Iterable[MomentCandidate]) -> list[MomentCandidate]:
    """Best first: highest priority, then the most recent, then a stable tie-break on the key."""
    return sorted(candidates, key=lambda c: (-c.priority, -c.occurred_at.timestamp(), c.rule_id, c.source_key))
