"""Guards: the checks a moment of truth must pass, at the moment's time, before anyone is asked.

Each guard is a small function returning ``None`` (pass) or the reason it blocks. They run in the
order of ``GUARD_ORDER``, and the first that blocks is recorded on the moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from referral_automation.config import (
    ConsentGuard,
    CooldownGuard,
    DetractorGuard,
    DetractorSignal,
    Guards,
    StalenessGuard,
    TenureGuard,
)
from referral_automation.domain.conditions import Check, compile_condition, lookup
from referral_automation.domain.facts import (
    CustomerFacts,
    EventFacts,
    GuardVerdict,
    MomentCandidate,
    tenure_days,
)

#: How far in the future (clock skew between systems) an event may be and still count as "now".
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class GuardContext:
    """Everything the guards need to know about one moment."""

    moment: MomentCandidate
    customer: CustomerFacts
    #: The customer's events in the detractor look-back before the moment (the moment's own included).
    recent_events: Sequence[EventFacts]
    #: When the customer was last sent (or given) a referral request that counts for the cool-down.
    last_request_at: datetime | None
    now: datetime


def staleness(guard: StalenessGuard, ctx: GuardContext) -> str | None:
    return stale_moment(guard, ctx.moment.occurred_at, ctx.now)


def stale_moment(guard: StalenessGuard, occurred_at: datetime, now: datetime) -> str | None:
    """The staleness guard's verdict from the moment's time and the clock alone (the scan applies
    it to every match, before any context is built)."""
    age = now - occurred_at
    if age < -CLOCK_SKEW:
        return f"the moment is in the future ({occurred_at.isoformat()})"
    if age > timedelta(days=guard.max_age_days):
        return f"the moment is {age.days} days old (at most {guard.max_age_days:g} allowed)"
    return None


def consent(guard: ConsentGuard, ctx: GuardContext) -> str | None:
    if guard.require_opt_in and not ctx.customer.marketing_opt_in:
        return "the customer has not opted in to marketing email"
    if guard.check_suppressions and ctx.customer.suppressed:
        return "the address is suppressed (unsubscribed, bounced or reported spam)"
    return None


def tenure(guard: TenureGuard, ctx: GuardContext) -> str | None:
    days = tenure_days(ctx.customer, ctx.moment.occurred_at)
    if days is None:
        return "the customer has no first purchase"
    if days < guard.min_days:
        return f"tenure is {int(days)} days (at least {guard.min_days} needed)"
    return None


def cooldown(guard: CooldownGuard, ctx: GuardContext) -> str | None:
    last = ctx.last_request_at
    if last is not None and last > ctx.moment.occurred_at - timedelta(days=guard.days):
        return f"a referral request was made on {last.date().isoformat()} (cool-down {guard.days} days)"
    return None


def is_resolved(signal: DetractorSignal, opened: EventFacts, events: Sequence[EventFacts], until: datetime) -> bool:
    assert signal.match_property is not None
    key = lookup(opened.properties, signal.match_property)
    return any(
        e.type == signal.unresolved_by
        and opened.occurred_at <= e.occurred_at <= until
        and lookup(e.properties, signal.match_property) == key
        for e in events
    )


def detractor_reason(event: EventFacts) -> str:
    return f"detractor signal: {event.type} {event.event_id} on {event.occurred_at.date().isoformat()}"


def detractor(guard: DetractorGuard) -> Callable[[GuardContext], str | None]:
    """The detractor guard with its look-back and its signals' conditions worked out once: a
    signal is an event in the look-back before the moment that its condition matches and, with
    ``unresolved_by``, that no resolution with the same ``match_property`` followed by then."""
    lookback = timedelta(days=guard.lookback_days)
    signals = [(signal, compile_condition(signal.when)) for signal in guard.signals]

    def fires(signal: DetractorSignal, when: Check, event: EventFacts, ctx: GuardContext) -> bool:
        if event.type != signal.event or not when(event.properties, ctx.customer, event.occurred_at):
            return False
        return signal.unresolved_by is None or not is_resolved(signal, event, ctx.recent_events, ctx.moment.occurred_at)

    def check(ctx: GuardContext) -> str | None:
        moment = ctx.moment
        start = moment.occurred_at - lookback
        for event in ctx.recent_events:
            if event.event_id == moment.event_id or not start <= event.occurred_at <= moment.occurred_at:
                continue
            if any(fires(signal, when, event, ctx) for signal, when in signals):
                return detractor_reason(event)
        return None

    return check


#: The guards that need no preparation, as functions of (guard settings, context).
SIMPLE_GUARDS: dict[str, Callable[[Any, GuardContext], str | None]] = {
    "staleness": staleness,
    "consent": consent,
    "tenure": tenure,
    "cooldown": cooldown,
}
#: The order guards are applied in: the first that blocks is the one recorded.
GUARD_ORDER = ("staleness", "consent", "tenure", "cooldown", "detractor")

#: Every enabled guard of one set, applied in order (``compile_guards``).
GuardCheck = Callable[[GuardContext], GuardVerdict]


def compile_guards(guards: Guards) -> GuardCheck:
    """The verdict of ``guards`` on a moment: the switched-off guards dropped and the detractor
    signals' conditions compiled once (detection checks thousands of moments in a run against the
    same few sets of guards). tests/reference/guards.py applies them the plain way."""
    checks: list[tuple[str, Callable[[GuardContext], str | None]]] = []
    for name in GUARD_ORDER:
        guard = getattr(guards, name)
        if guard.enabled:
            checks.append((name, detractor(guard) if name == "detractor" else partial(SIMPLE_GUARDS[name], guard)))

    def verdict(ctx: GuardContext) -> GuardVerdict:
        for name, run in checks:
            reason = run(ctx)
            if reason is not None:
                return GuardVerdict.blocked(name, reason)
        return GuardVerdict.ok()

    return verdict
