"""The values domain functions reason about: plain, immutable, built by services from rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What rules and guards may know of a customer."""

    customer_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    plan: str = ""
    lifetime_value: Decimal = Decimal(0)
    first_purchase_at: datetime | None = None
    timezone: str = "UTC"
    locale: str = "en"
    marketing_opt_in: bool = False
    suppressed: bool = False

    def field_value(self, name: str, at: datetime) -> Any:
        """A field by name for conditions; ``tenure_days`` is whole days since the first purchase."""
        if name == "tenure_days":
            return tenure_days(self, at)
        return getattr(self, name, None)


def tenure_days(customer: CustomerFacts, at: datetime) -> float | None:
    if customer.first_purchase_at is None:
        return None
    return (at - customer.first_purchase_at).total_seconds() / 86400


@dataclass(frozen=True, slots=True)
class EventFacts:
    """One journey event, as rules see it."""

    event_id: str
    customer_id: str
    type: str
    occurred_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class MomentCandidate:
    """A rule matched: a possible moment of truth, not yet guarded."""

    customer_id: str
    rule_id: str
    source_key: str
    occurred_at: datetime
    priority: int
    campaign: str
    event_seq: int | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """Whether a moment may lead to a referral request; if not, which guard said no and why."""

    passed: bool
    guard: str | None = None
    reason: str | None = None

    @classmethod
    def ok(cls) -> GuardVerdict:
        return cls(True)

    @classmethod
    def blocked(cls, guard: str, reason: str) -> GuardVerdict:
        return cls(False, guard, reason)
