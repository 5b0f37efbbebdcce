"""The detection rule book: the configuration as detection uses it, deciding one customer's
moments, and the referral request the winner becomes.

The database work around it lives in ``services.detection``; the unguessable parts of a request
(its referral code and unsubscribe token) come in from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from referral_automation.config import AppConfig, Guards, TriggerRule, names_customer
from referral_automation.domain import approval, arms, identity, rules, sendwindow
from referral_automation.domain.bandit import Allocation
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate
from referral_automation.domain.guards import CLOCK_SKEW, GuardCheck, GuardContext, compile_guards, stale_moment
from referral_automation.domain.rules import PartsMatcher, TimeMatcher, parts_matcher, time_matcher
from referral_automation.domain.statuses import MomentOutcome, RequestStatus

#: Stands in for the customer where nothing looks at them (the staleness guard, rules without customer conditions).
NOBODY = CustomerFacts(customer_id="", email="")


@dataclass(frozen=True, slots=True)
class MomentDecision:
    """What became of one moment in this run; ``guard`` and ``reason`` say why it was blocked."""

    moment: MomentCandidate
    moment_id: str
    outcome: MomentOutcome
    guard: str | None = None
    reason: str | None = None

    @classmethod
    def of(
        cls, moment: MomentCandidate, outcome: MomentOutcome, guard: str | None = None, reason: str | None = None
    ) -> Self:
        """The outcome with the moment's deterministic id (derived once: uuid5 is not free)."""
        key = identity.moment_id(moment.customer_id, moment.rule_id, moment.source_key)
        return cls(moment, key, outcome, guard, reason)


@dataclass(frozen=True, slots=True)
class RuleBook:
    """The configuration as detection uses it: rules by id with their effective guards, computed once."""

    config: AppConfig
    event_rules: Mapping[str, Sequence[TriggerRule]]
    time_rules: Sequence[TriggerRule]
    guards: Mapping[str, Guards]
    #: Event types with a rule whose condition names a customer field (the scan loads those customers).
    needs_customer: frozenset[str]
    #: How old a moment of each rule may be (None: its staleness guard is off).
    max_ages: Mapping[str, timedelta | None]
    #: ``rules.parts_matcher`` for each event type with enabled rules.
    matchers: Mapping[str, PartsMatcher]
    #: Each rule's effective guards, compiled once (``guards.compile_guards``).
    checks: Mapping[str, GuardCheck]
    #: Each time-based rule's moments, its condition compiled once (``rules.time_matcher``).
    time_matchers: Mapping[str, TimeMatcher]
    #: Send times already worked out, by (now, time zone, campaign): a batch shares a handful.
    _openings: dict[tuple[datetime, str, str], tuple[datetime, str | None]] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: Staleness reasons already written, by (rule, whole days old): a backfill repeats a few dozen.
    _stale_reasons: dict[tuple[str, int], str | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, config: AppConfig) -> RuleBook:
        enabled = [rule for rule in config.triggers.rules if rule.enabled]
        by_type: dict[str, list[TriggerRule]] = {}
        for rule in enabled:
            if rule.event is not None:
                by_type.setdefault(rule.event, []).append(rule)
        guards = {rule.id: rule.effective_guards(config.triggers.guards) for rule in enabled}
        return cls(
            config=config,
            event_rules=by_type,
            time_rules=[rule for rule in enabled if rule.after is not None],
            guards=guards,
            needs_customer=frozenset(
                rule.event for rule in enabled if rule.event is not None and names_customer(rule.when)
            ),
            max_ages={
                rule_id: timedelta(days=g.staleness.max_age_days) if g.staleness.enabled else None
                for rule_id, g in guards.items()
            },
            matchers={kind: parts_matcher(rules, kind) for kind, rules in by_type.items()},
            checks={rule_id: compile_guards(g) for rule_id, g in guards.items()},
            time_matchers={rule.id: time_matcher(rule) for rule in enabled if rule.after is not None},
        )

    def max_age(self, rule: TriggerRule) -> timedelta | None:
        """How old a moment of ``rule`` may be (None: the staleness guard is off for it)."""
        return self.max_ages[rule.id]

    def stale_reason(self, moment: MomentCandidate, now: datetime) -> str | None:
        """Why its rule's staleness guard blocks ``moment`` (None if it does not). That guard is
        checked first and needs nothing but the moment and the clock, so the scan applies it early."""
        max_age = self.max_ages.get(moment.rule_id)
        age = now - moment.occurred_at
        if max_age is None or -CLOCK_SKEW <= age <= max_age:
            return None
        if age < -CLOCK_SKEW:  # from the future: the reason names the moment's time
            return stale_moment(self.guards[moment.rule_id].staleness, moment.occurred_at, now)
        # Too old: the reason says only how many whole days, so moments of a rule share it.
        key = (moment.rule_id, age.days)
        if key not in self._stale_reasons:
            self._stale_reasons[key] = stale_moment(self.guards[moment.rule_id].staleness, moment.occurred_at, now)
        return self._stale_reasons[key]

    def send_time(self, now: datetime, timezone: str, campaign_id: str) -> tuple[datetime, str | None]:
        """When a request made ``now`` may first go out in ``timezone`` (DST-correct), and the
        warning when that zone is unknown and UTC stands in."""
        key = (now, timezone, campaign_id)
        found = self._openings.get(key)
        if found is None:
            zone, warning = sendwindow.resolve_zone(timezone)
            found = (sendwindow.next_opening(now, zone, self.config.campaign(campaign_id).send_window), warning)
            self._openings[key] = found
        return found

    def detractor_lookback(self) -> tuple[timedelta, frozenset[str]]:
        """The longest detractor look-back of any rule, and the event types its signals name."""
        days = 0
        types: set[str] = set()
        for guards in self.guards.values():
            if guards.detractor.enabled:
                days = max(days, guards.detractor.lookback_days)
                for signal in guards.detractor.signals:
                    types.add(signal.event)
                    if signal.unresolved_by is not None:
                        types.add(signal.unresolved_by)
        return timedelta(days=days), frozenset(types)

    def due_time_moments(self, customer: CustomerFacts, *, now: datetime) -> list[MomentCandidate]:
        """Time-based moments come due for ``customer``, each within its own rule's staleness."""
        found: list[MomentCandidate] = []
        for rule in self.time_rules:
            moment = self.time_matchers[rule.id](customer, now, self.max_age(rule) or timedelta.max)
            if moment is not None:
                found.append(moment)
        return found

    def unusable(self, moment: MomentCandidate) -> str | None:
        """Why a stored candidate can no longer be decided under the current configuration."""
        if moment.rule_id not in self.guards:
            return f"rule {moment.rule_id!r} is not an enabled rule of the configuration"
        if moment.campaign not in self.config.campaigns.campaigns:
            return f"campaign {moment.campaign!r} is not in the configuration"
        return None


def decide_customer(
    book: RuleBook,
    candidates: Sequence[MomentCandidate],
    *,
    customer: CustomerFacts,
    recent_events: Sequence[EventFacts],
    last_request_at: datetime | None,
    now: datetime,
) -> list[MomentDecision]:
    """Best candidate first: the first that passes its guards is requested, those after it are
    superseded (never evaluated), those before it blocked by the guard that said no."""
    outcomes: list[MomentDecision] = []
    chosen = False
    for moment in rules.rank(candidates):
        if chosen:
            outcomes.append(MomentDecision.of(moment, MomentOutcome.SUPERSEDED))
            continue
        problem = book.unusable(moment)
        if problem is not None:
            outcomes.append(MomentDecision.of(moment, MomentOutcome.BLOCKED, "rule", problem))
            continue
        verdict = book.checks[moment.rule_id](GuardContext(moment, customer, recent_events, last_request_at, now))
        if verdict.passed:
            chosen = True
            outcomes.append(MomentDecision.of(moment, MomentOutcome.REQUESTED))
        else:
            outcomes.append(MomentDecision.of(moment, MomentOutcome.BLOCKED, verdict.guard, verdict.reason))
    return outcomes


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A referral request row to insert, and the time-zone warning to audit (if any)."""

    row: dict[str, Any]
    zone_warning: str | None


def new_request(
    book: RuleBook,
    decision: MomentDecision,
    customer: CustomerFacts,
    *,
    now: datetime,
    code: str,
    unsubscribe_token: str,
    allocation: Allocation,
) -> NewRequest:
    """The referral request a requested moment becomes: arm, code, approval and send time.

    The arm is picked from ``allocation`` (the campaign's, refreshed once for the detection run)
    with an RNG seeded by the request id; the row logs the choice's model version, the chosen arm's
    probability and whether the holdout chose it, for off-policy estimates later.
    """
    moment_id = decision.moment_id
    request_id = identity.request_id(moment_id)
    campaign_id = decision.moment.campaign
    campaign = book.config.campaign(campaign_id)
    choice = allocation.pick(arms.seeded_rng(request_id))
    scheduled_for, warning = book.send_time(now, customer.timezone, campaign_id)
    reason = approval.approval_reason(campaign.approval, customer)
    status = RequestStatus.PENDING_APPROVAL if reason else RequestStatus.SCHEDULED
    row = {
        "id": request_id,
        "customer_id": customer.customer_id,
        "moment_id": moment_id,
        "campaign": campaign_id,
        "variant": choice.arm.variant,
        "incentive": choice.arm.incentive,
        "code": code,
        "unsubscribe_token": unsubscribe_token,
        "status": status.value,
        "approval_required": reason is not None,
        "approval_reason": reason,
        "approval_expires_at": now + timedelta(days=campaign.approval.expires_after_days) if reason else None,
        "scheduled_for": scheduled_for,
        "created_at": now,
        "updated_at": now,
        "model_version": choice.model_version,
        "arm_propensity": choice.propensity,
        "from_holdout": choice.from_holdout,
    }
    return NewRequest(row, warning)


def moment_row(outcome: MomentDecision, *, now: datetime) -> dict[str, Any]:
    """A moments-table row for ``outcome`` (the scan records event moments as ``candidate``)."""
    return moment_values(outcome.moment, outcome.moment_id, outcome.outcome, outcome.guard, outcome.reason, now=now)


def moment_values(
    m: MomentCandidate, moment_id: str, outcome: MomentOutcome, guard: str | None, reason: str | None, *, now: datetime
) -> dict[str, Any]:
    """``moment_row`` from its parts, for the scan (which needs no ``MomentDecision`` in between)."""
    return {
        "id": moment_id,
        "customer_id": m.customer_id,
        "rule_id": m.rule_id,
        "source_key": m.source_key,
        "event_seq": m.event_seq,
        "occurred_at": m.occurred_at,
        "detected_at": now,
        "priority": m.priority,
        "campaign": m.campaign,
        "outcome": outcome.value,
        "blocked_by": guard,
        "reason": reason,
    }
