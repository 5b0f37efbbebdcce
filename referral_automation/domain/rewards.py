"""The reward ledger's rules: which rewards a conversion earns, and when a pending one is issued.

A converted referral earns what its arm's incentive promises: the advocate the ``referrer`` reward,
the friend the ``referee`` reward (double-sided incentives only). Entries start ``pending`` and are
issued once the refund window has passed, so a purchase refunded inside the window can still cancel
them. Each entry's id is derived from the referral and the side (uuid5): recording the same
conversion twice derives the same ids, and ``ON CONFLICT DO NOTHING`` inserts nothing new.

The cap (``Incentive.cap``, "only the first N who refer are rewarded") is counted per advocate, as
issue 14 asks: once an advocate has ``cap`` referrer rewards, further conversions give them nothing.
The referee's reward does not depend on the cap: the friend was promised it in the introduction and
on the landing page, and did nothing to lose it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from referral_automation.config import Incentive, Reward
from referral_automation.domain.identity import uuid5

#: The longest refund window accepted (ten years): beyond it ``converted_at + window`` overflows
#: sooner or later, and no shop holds refunds open that long.
MAX_REFUND_WINDOW_DAYS = 3650

Side = Literal["referrer", "referee"]


class RewardStatus(StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    CANCELLED = "cancelled"  # refunded inside the window, or withdrawn by a person


@dataclass(frozen=True, slots=True)
class Conversion:
    """A referee who became a customer, through one referral (one sign-up with one code)."""

    #: The referral that converted: one referee's sign-up with one advocate's code. A referral
    #: converts once, so it identifies the conversion (and its rewards' ids).
    referral_id: str
    advocate_customer_id: str
    referee_email: str
    converted_at: datetime
    value: Decimal

    def __post_init__(self) -> None:
        if not self.referral_id:
            raise ValueError("a conversion needs its referral's id")
        if self.converted_at.tzinfo is None or self.converted_at.utcoffset() is None:
            raise ValueError("converted_at must carry a time zone")
        if not self.value.is_finite() or self.value < 0:
            raise ValueError(f"a conversion's value must be a finite amount of at least 0, not {self.value}")


@dataclass(frozen=True, slots=True)
class RewardEntry:
    """One line of the reward ledger: what one side of one referral is owed, and from when."""

    reward_id: str
    referral_id: str
    incentive_id: str
    side: Side
    #: Who receives it: the advocate's customer id (referrer) or the referee's address (referee).
    recipient: str
    kind: str
    value: Decimal
    currency: str | None
    description: str
    issue_after: datetime
    status: RewardStatus = RewardStatus.PENDING


def reward_id(referral_id: str, side: Side) -> str:
    """The ledger id of one side's reward for one referral: the same inputs, the same id."""
    return uuid5(f"reward\x1f{referral_id}\x1f{side}")


def rewards_for_conversion(
    incentive: Incentive,
    conversion: Conversion,
    *,
    referrer_rewards_so_far: int,
    refund_window_days: int,
) -> list[RewardEntry]:
    """The ledger entries ``conversion`` earns under ``incentive``, all pending until
    ``converted_at + refund_window_days``.

    ``referrer_rewards_so_far``: the advocate's referrer rewards already in the ledger under this
    incentive, pending or issued (not cancelled), this conversion's own excluded. With ``cap`` set
    and reached, the referrer side gets nothing; the referee side is never capped. A reward of
    kind ``none`` creates no entry. ``ValueError`` for a window outside 0-3650 days or a negative count.
    """
    if referrer_rewards_so_far < 0:
        raise ValueError("referrer_rewards_so_far cannot be negative")
    issue_after = _issue_after(conversion.converted_at, refund_window_days)
    capped = incentive.cap is not None and referrer_rewards_so_far >= incentive.cap
    sides: list[tuple[Side, Reward | None, str]] = [
        ("referrer", None if capped else incentive.referrer, conversion.advocate_customer_id),
        ("referee", incentive.referee, conversion.referee_email),
    ]
    return [
        _entry(incentive.id, conversion, side, reward, recipient, issue_after)
        for side, reward, recipient in sides
        if reward is not None and reward.kind != "none"
    ]


def _issue_after(converted_at: datetime, refund_window_days: int) -> datetime:
    if isinstance(refund_window_days, bool) or not 0 <= refund_window_days <= MAX_REFUND_WINDOW_DAYS:
        raise ValueError(f"the refund window must be 0-{MAX_REFUND_WINDOW_DAYS} days, not {refund_window_days!r}")
    try:
        return converted_at + timedelta(days=refund_window_days)
    except OverflowError as error:
        raise ValueError(f"{converted_at.isoformat()} plus {refund_window_days} days is past the year 9999") from error


def _entry(
    incentive_id: str, conversion: Conversion, side: Side, reward: Reward, recipient: str, issue_after: datetime
) -> RewardEntry:
    return RewardEntry(
        reward_id=reward_id(conversion.referral_id, side),
        referral_id=conversion.referral_id,
        incentive_id=incentive_id,
        side=side,
        recipient=recipient,
        kind=reward.kind,
        value=reward.value,
        currency=reward.currency,
        description=reward.description,
        issue_after=issue_after,
    )


def is_due(entry: RewardEntry, now: datetime) -> bool:
    """Whether ``entry`` moves ``pending → issued`` at ``now``: pending, and its refund window over."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must carry a time zone")
    return entry.status == RewardStatus.PENDING and entry.issue_after <= now


def due_rewards(entries: Iterable[RewardEntry], now: datetime) -> list[RewardEntry]:
    """The entries ``is_due`` at ``now``, in the order given."""
    return [entry for entry in entries if is_due(entry, now)]


def issued(entry: RewardEntry, now: datetime) -> RewardEntry:
    """``entry`` moved to ``issued``; ``ValueError`` unless it ``is_due`` at ``now``."""
    if not is_due(entry, now):
        raise ValueError(f"reward {entry.reward_id} is {entry.status} until {entry.issue_after.isoformat()}")
    return replace(entry, status=RewardStatus.ISSUED)
