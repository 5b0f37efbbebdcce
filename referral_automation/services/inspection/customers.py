"""One customer's story, for ``customers show``: every moment of truth with the rule and the guard
that decided it, the requests it led to, consent and suppression, and (``--why``) what every guard
would say of a moment of truth now.

The verdicts "now" are the guards detection runs (``domain.explain`` over ``domain.guards``), fed
by the queries detection uses (``services.detection.store``): the explanation and the next run of
detection cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, Guards, TriggerRule
from referral_automation.db.models import Customer, JourneyEvent, Moment, ReferralRequest
from referral_automation.db.shared import customer_facts
from referral_automation.domain.explain import GuardLine, explain
from referral_automation.domain.facts import MomentCandidate
from referral_automation.domain.guards import GuardContext
from referral_automation.domain.rulebook import RuleBook
from referral_automation.services.detection import store as detection
from referral_automation.services.inspection.lookup import resolve_customer_id
from referral_automation.services.inspection.requests import RequestSummary, iso, requests_of
from referral_automation.services.inspection.story import AuditView, CustomerView, MomentView, audit_of, customer_view


@dataclass(frozen=True, slots=True)
class MomentLine:
    """A moment of truth and what became of it: requested, blocked (by which guard, why) or superseded."""

    moment: MomentView
    blocked_by: str | None
    reason: str | None
    request_id: str | None
    request_status: str | None

    def verdict(self) -> str:
        """``blocked by cooldown: a referral request was made on …`` or ``requested: 3f2a9c1e (sent)``."""
        if self.moment.outcome == "blocked":
            return f"blocked by {self.blocked_by}: {self.reason}"
        if self.request_id is not None:
            return f"requested: {self.request_id[:8]} ({self.request_status})"
        if self.moment.outcome == "superseded":
            return "superseded by a higher-priority moment in the same run"
        return self.moment.outcome

    def as_json(self) -> dict[str, Any]:
        return {
            **self.moment.as_json(),
            "blocked_by": self.blocked_by,
            "reason": self.reason,
            "referral_request_id": self.request_id,
            "request_status": self.request_status,
        }


@dataclass(frozen=True, slots=True)
class RulesVerdict:
    """What the guards of some rules (those sharing one set of guards) say of a moment of truth now."""

    rules: tuple[str, ...]
    lines: tuple[GuardLine, ...]

    @property
    def passes(self) -> bool:
        return all(line.passed is not False for line in self.lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "rules": list(self.rules),
            "passes": self.passes,
            "guards": [
                {"guard": line.guard, "passed": line.passed, "detail": line.detail, "until": iso(line.until)}
                for line in self.lines
            ],
        }


@dataclass(frozen=True, slots=True)
class CustomerStory:
    """Everything known about one customer's referral journey, newest first."""

    customer: CustomerView
    first_purchase_at: datetime | None
    moments: tuple[MomentLine, ...]
    #: Whether older moments were left out (``limit``).
    more_moments: bool
    requests: tuple[RequestSummary, ...]
    audit: tuple[AuditView, ...]
    #: With a configuration: each rule's guards' verdicts on a moment of truth at ``now``.
    now: datetime
    verdicts: tuple[RulesVerdict, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "customer": {**self.customer.as_json(), "first_purchase_at": iso(self.first_purchase_at)},
            "moments": [moment.as_json() for moment in self.moments],
            "more_moments": self.more_moments,
            "requests": [request.as_json() for request in self.requests],
            "audit": [entry.as_json() for entry in self.audit],
            "now": iso(self.now),
            "verdicts": [verdict.as_json() for verdict in self.verdicts],
        }


def customer_story(
    session_factory: sessionmaker[Session], ref: str, *, now: datetime, limit: int, config: AppConfig | None = None
) -> CustomerStory:
    """The story of the customer ``ref`` names (id or address); the newest ``limit`` moments and
    requests (0: all); with ``config``, what its guards say of a moment of truth at ``now``."""
    with session_factory() as session, session.begin():
        customer = session.get_one(Customer, resolve_customer_id(session, ref))
        moments = _moments(session, customer.customer_id, limit + 1 if limit else None)
        requests = requests_of(session, customer_id=customer.customer_id, limit=limit or None)
        return CustomerStory(
            customer=customer_view(session, customer),
            first_purchase_at=customer.first_purchase_at,
            moments=tuple(moments[:limit] if limit else moments),
            more_moments=bool(limit) and len(moments) > limit,
            requests=tuple(requests),
            audit=tuple(audit_of(session, customer.customer_id, [r.id for r in requests], email=customer.email)),
            now=now,
            verdicts=() if config is None else tuple(_verdicts(session, config, customer.customer_id, now)),
        )


def _moments(session: Session, customer_id: str, limit: int | None) -> list[MomentLine]:
    query = (
        select(Moment, JourneyEvent.event_id, JourneyEvent.type, JourneyEvent.properties, ReferralRequest.id,
               ReferralRequest.status)
        .outerjoin(JourneyEvent, JourneyEvent.seq == Moment.event_seq)
        .outerjoin(ReferralRequest, ReferralRequest.moment_id == Moment.id)
        .where(Moment.customer_id == customer_id)
        .order_by(Moment.occurred_at.desc(), Moment.id.desc())
        .limit(limit)
    )  # fmt: skip
    lines = []
    for moment, event_id, kind, properties, request_id, status in session.execute(query):
        view = MomentView(
            moment.rule_id,
            moment.source_key,
            moment.occurred_at,
            moment.detected_at,
            moment.outcome,
            event_id,
            kind,
            dict(properties or {}),
        )
        lines.append(MomentLine(view, moment.blocked_by, moment.reason, request_id, status))
    return lines


def _verdicts(session: Session, config: AppConfig, customer_id: str, now: datetime) -> list[RulesVerdict]:
    """Each enabled event or time rule's guards applied to a moment of truth at ``now`` (rules that
    share their guards share one verdict)."""
    book = RuleBook.of(config)
    facts = customer_facts(session, [customer_id])[customer_id]
    lookback, types = book.detractor_lookback()
    recent = detection.events_between(session, [customer_id], start=now - lookback, end=now, types=types)
    last = detection.last_request_times(session, [customer_id]).get(customer_id)
    groups: list[tuple[Guards, list[TriggerRule]]] = []
    for rule in (rule for rule in config.triggers.rules if rule.enabled):
        guards = book.guards[rule.id]
        group = next((members for shared, members in groups if shared == guards), None)
        if group is None:
            groups.append((guards, [rule]))
        else:
            group.append(rule)
    verdicts = []
    for guards, rules in groups:
        moment = MomentCandidate(customer_id, rules[0].id, "now", now, rules[0].priority, rules[0].campaign)
        context = GuardContext(moment, facts, recent.get(customer_id, []), last, now)
        verdicts.append(RulesVerdict(tuple(rule.id for rule in rules), tuple(explain(guards, context))))
    return verdicts
