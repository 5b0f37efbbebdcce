"""Guards applied one by one, conditions interpreted: the reference for ``domain.guards.compile_guards``."""

from __future__ import annotations

from datetime import timedelta

from referral_automation.config import DetractorGuard, DetractorSignal, Guards
from referral_automation.domain.facts import EventFacts, GuardVerdict
from referral_automation.domain.guards import (
    GUARD_ORDER,
    SIMPLE_GUARDS,
    GuardContext,
    detractor_reason,
    is_resolved,
)
from tests.reference.conditions import evaluate


def check_guards(guards: Guards, ctx: GuardContext) -> GuardVerdict:
    """Apply every enabled guard in order; the first that blocks decides."""
    for name in GUARD_ORDER:
        guard = getattr(guards, name)
        if not guard.enabled:
            continue
        reason = detractor(guard, ctx) if name == "detractor" else SIMPLE_GUARDS[name](guard, ctx)
        if reason is not None:
            return GuardVerdict.blocked(name, reason)
    return GuardVerdict.ok()


def detractor(guard: DetractorGuard, ctx: GuardContext) -> str | None:
    start = ctx.moment.occurred_at - timedelta(days=guard.lookback_days)
    for event in ctx.recent_events:
        if event.event_id == ctx.moment.event_id or not start <= event.occurred_at <= ctx.moment.occurred_at:
            continue
        for signal in guard.signals:
            if _signal_fires(signal, event, ctx):
                return detractor_reason(event)
    return None


def _signal_fires(signal: DetractorSignal, event: EventFacts, ctx: GuardContext) -> bool:
    if event.type != signal.event:
        return False
    if not evaluate(signal.when, properties=event.properties, customer=ctx.customer, at=event.occurred_at):
        return False
    if signal.unresolved_by is not None:
        return not is_resolved(signal, event, ctx.recent_events, ctx.moment.occurred_at)
    return True
