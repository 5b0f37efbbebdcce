"""Match events and the passing of time against trigger rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from referral_automation.config import TriggerRule
from referral_automation.domain.conditions import compile_condition
from referral_automation.domain.facts import CustomerFacts, MomentCandidate

#: A time-based moment has no event, so no properties.
_NO_PROPERTIES: Mapping[str, Any] = {}


def time_source_key(rule: TriggerRule) -> str:
    """A time-based rule fires at most once per customer: its key names only the rule."""
    return f"time:{rule.id}"


#: The moments one event type's rules find in an event given as its parts (event id, customer id,
#: time, properties, seq) and its customer: a scan of many thousand events builds no ``EventFacts``.
PartsMatcher = Callable[[str, str, datetime, Mapping[str, Any], int | None, CustomerFacts], list[MomentCandidate]]


def parts_matcher(rules: Iterable[TriggerRule], event_type: str) -> PartsMatcher:
    """Every enabled rule of ``event_type`` whose condition an event of that type satisfies, as
    moment candidates; the rules' conditions compiled once (detection matches every event of the
    type against the same few rules). tests/reference/rules.py does the same the plain way."""
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


def time_moment_at(rule: TriggerRule, customer: CustomerFacts) -> datetime | None:
    """When a time-based rule's moment happens for this customer (None if it cannot).

    A moment past the end of the calendar (a first purchase near year 9999, days beyond any date)
    never comes: None, rather than an ``OverflowError`` that would stop detection for everyone.
    """
    assert rule.after is not None
    since = getattr(customer, rule.after.since)
    if since is None:
        return None
    try:
        moment: datetime = since + timedelta(days=rule.after.days)
    except OverflowError:
        return None
    return moment


#: A time-based rule's moment for a customer at ``now`` when it has come and is at most ``max_age``
#: old (and the rule's condition holds), else None.
TimeMatcher = Callable[[CustomerFacts, datetime, timedelta], MomentCandidate | None]


def time_matcher(rule: TriggerRule) -> TimeMatcher:
    """``rule``'s time-based moments, its condition compiled once (detection asks for every
    customer whose moment may be due)."""
    assert rule.after is not None
    check = compile_condition(rule.when)
    key = time_source_key(rule)

    def match(customer: CustomerFacts, now: datetime, max_age: timedelta) -> MomentCandidate | None:
        at = time_moment_at(rule, customer)
        if at is None or at > now or now - at > max_age or not check(_NO_PROPERTIES, customer, at):
            return None
        return MomentCandidate(customer.customer_id, rule.id, key, at, rule.priority, rule.campaign)

    return match


def due_time_moments(
    rules: Iterable[TriggerRule], customer: CustomerFacts, *, now: datetime, max_age: timedelta
) -> list[MomentCandidate]:
    """Time-based moments that have come for ``customer`` by ``now`` and are at most ``max_age`` old."""
    timed = [time_matcher(rule) for rule in rules if rule.enabled and rule.after is not None]
    return [moment for match in timed if (moment := match(customer, now, max_age)) is not None]


def rank(candidates: Iterable[MomentCandidate]) -> list[MomentCandidate]:
    """Best first: highest priority, then the most recent, then a stable tie-break on the key."""
    return sorted(candidates, key=lambda c: (-c.priority, -c.occurred_at.timestamp(), c.rule_id, c.source_key))
