"""What each guard would say of a customer now: the answer to "why wasn't this customer asked?".

Detection records only the first guard that stopped a moment. An operator asking about a customer
wants every guard's verdict, each with its reason whether it passes or blocks, and when a
blocking guard lets go by itself (the cool-down's end, the day tenure is reached). The verdicts
come from the guards detection runs (``domain.guards``), applied to a moment of truth at ``now``,
so the explanation never disagrees with what detection would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from referral_automation.config import Guards
from referral_automation.domain import guards as checks
from referral_automation.domain.facts import tenure_days
from referral_automation.domain.guards import GuardContext


@dataclass(frozen=True, slots=True)
class GuardLine:
    """One guard's verdict: ``passed`` is None when the guard is switched off."""

    guard: str
    passed: bool | None
    detail: str
    #: When a blocking guard stops blocking by itself (None: it does not, or it passes).
    until: datetime | None = None


def explain(guards: Guards, ctx: GuardContext) -> list[GuardLine]:
    """Every guard but staleness (a moment at ``ctx.now`` is fresh), in the order detection applies them."""
    return [_consent(guards, ctx), _tenure(guards, ctx), _cooldown(guards, ctx), _detractor(guards, ctx)]


def _off(name: str) -> GuardLine:
    return GuardLine(name, None, "switched off in triggers.yaml")


def _consent(guards: Guards, ctx: GuardContext) -> GuardLine:
    guard = guards.consent
    if not guard.enabled:
        return _off("consent")
    reason = checks.consent(guard, ctx)
    if reason is not None:
        return GuardLine("consent", False, reason)
    parts = ["opted in to marketing email" if guard.require_opt_in else "opt-in not required"]
    parts.append("address not suppressed" if guard.check_suppressions else "suppressions not checked")
    return GuardLine("consent", True, ", ".join(parts))


def _tenure(guards: Guards, ctx: GuardContext) -> GuardLine:
    guard = guards.tenure
    if not guard.enabled:
        return _off("tenure")
    reason = checks.tenure(guard, ctx)
    first = ctx.customer.first_purchase_at
    if reason is not None:
        return GuardLine("tenure", False, reason, None if first is None else first + timedelta(days=guard.min_days))
    days = tenure_days(ctx.customer, ctx.now) or 0
    return GuardLine("tenure", True, f"{int(days)} days since the first purchase (at least {guard.min_days})")


def _cooldown(guards: Guards, ctx: GuardContext) -> GuardLine:
    guard = guards.cooldown
    if not guard.enabled:
        return _off("cooldown")
    reason = checks.cooldown(guard, ctx)
    last = ctx.last_request_at
    if reason is not None:
        assert last is not None
        return GuardLine("cooldown", False, reason, last + timedelta(days=guard.days))
    if last is None:
        return GuardLine("cooldown", True, "never asked before")
    return GuardLine("cooldown", True, f"last asked on {last:%Y-%m-%d}, more than {guard.days} days ago")


def _detractor(guards: Guards, ctx: GuardContext) -> GuardLine:
    guard = guards.detractor
    if not guard.enabled:
        return _off("detractor")
    reason = checks.detractor(guard)(ctx)
    if reason is not None:
        return GuardLine("detractor", False, f"{reason} (looks back {guard.lookback_days} days)")
    return GuardLine("detractor", True, f"no detractor signal in the {guard.lookback_days} days before")
