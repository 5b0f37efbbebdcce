"""Rules matched one event at a time, conditions interpreted: the reference for ``domain.rules.parts_matcher``."""

from __future__ import annotations

from collections.abc import Iterable

from referral_automation.config import TriggerRule
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate
from tests.reference.conditions import evaluate


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
