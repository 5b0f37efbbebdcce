"""Reward ledger rules: both sides rewarded as promised, caps per advocate, pending through the refund window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from referral_automation.config import Incentive
from referral_automation.domain.rewards import (
    MAX_REFUND_WINDOW_DAYS,
    Conversion,
    RewardEntry,
    RewardStatus,
    due_rewards,
    is_due,
    issued,
    reward_id,
    rewards_for_conversion,
)

CONVERTED_AT = datetime(2025, 6, 4, 10, 0, tzinfo=UTC)

#: The shipped campaigns.yaml's incentives, written out so these tests do not change when the file does.
DOUBLE = Incentive.model_validate(
    {
        "id": "give50_get50",
        "sides": "double",
        "referrer": {"kind": "credit", "value": 50, "currency": "USD", "description": "$50 account credit"},
        "referee": {"kind": "discount_percent", "value": 20, "description": "20% off the first year"},
        "cost": 150,
        "text": "You get $50 in account credit and they get 20% off their first year.",
    }
)
SINGLE = Incentive.model_validate(
    {
        "id": "donation",
        "sides": "single",
        "referrer": {"kind": "donation", "value": 25, "currency": "USD", "description": "a $25 donation"},
        "cost": 25,
        "text": "We donate $25.",
    }
)
CONVERSION = Conversion(
    referral_id="referral-1",
    advocate_customer_id="c1",
    referee_email="grace@example.com",
    converted_at=CONVERTED_AT,
    value=Decimal("1200.00"),
)


def incentive(base: Incentive = DOUBLE, **update: Any) -> Incentive:
    return Incentive.model_validate({**base.model_dump(), **update})


def rewards(
    inc: Incentive = DOUBLE, *, so_far: int = 0, window: int = 30, conversion: Conversion = CONVERSION
) -> list[RewardEntry]:
    return rewards_for_conversion(inc, conversion, referrer_rewards_so_far=so_far, refund_window_days=window)


def test_a_double_sided_incentive_rewards_both_sides() -> None:
    """It creates the advocate's and the friend's rewards as the incentive describes them, both pending."""
    referrer, referee = rewards()
    assert (referrer.side, referrer.recipient, referrer.kind, referrer.value, referrer.currency) == (
        "referrer",
        "c1",
        "credit",
        Decimal(50),
        "USD",
    )
    assert referrer.description == "$50 account credit"
    assert (referee.side, referee.recipient, referee.kind, referee.value, referee.currency) == (
        "referee",
        "grace@example.com",
        "discount_percent",
        Decimal(20),
        None,
    )
    assert referrer.status == referee.status == RewardStatus.PENDING == "pending"
    assert referrer.incentive_id == referee.incentive_id == "give50_get50"
    assert referrer.referral_id == referee.referral_id == "referral-1"


def test_a_single_sided_incentive_rewards_the_advocate_only() -> None:
    """It creates only the referrer's reward when the incentive has no referee side."""
    assert [entry.side for entry in rewards(SINGLE)] == ["referrer"]


def test_rewards_wait_for_the_refund_window() -> None:
    """It sets issue_after to the conversion time plus the refund window."""
    assert {entry.issue_after for entry in rewards(window=30)} == {CONVERTED_AT + timedelta(days=30)}
    assert {entry.issue_after for entry in rewards(window=0)} == {CONVERTED_AT}


def test_a_reward_of_kind_none_creates_nothing() -> None:
    """It creates no entry for a side whose reward is of kind none."""
    none_referee = incentive(referee={"kind": "none"})
    assert [entry.side for entry in rewards(none_referee)] == ["referrer"]
    none_referrer = incentive(SINGLE, referrer={"kind": "none"})
    assert rewards(none_referrer) == []


CAP_CASES = [
    ("no-cap", None, 1_000, ["referrer", "referee"]),
    ("under-the-cap", 3, 2, ["referrer", "referee"]),
    ("cap-reached", 3, 3, ["referee"]),
    ("past-the-cap", 3, 7, ["referee"]),
    ("cap-of-one-first", 1, 0, ["referrer", "referee"]),
    ("cap-of-one-second", 1, 1, ["referee"]),
]


@pytest.mark.parametrize(("cap", "so_far", "sides"), [c[1:] for c in CAP_CASES], ids=[c[0] for c in CAP_CASES])
def test_the_cap_stops_the_advocates_rewards_only(cap: int | None, so_far: int, sides: list[str]) -> None:
    """It rewards only an advocate's first `cap` referrals; the friend still gets the reward they were promised."""
    assert [entry.side for entry in rewards(incentive(cap=cap), so_far=so_far)] == sides


def test_a_capped_single_sided_incentive_gives_nothing() -> None:
    """It creates nothing for a single-sided incentive once the advocate's cap is reached."""
    assert rewards(incentive(SINGLE, cap=2), so_far=2) == []


def test_the_same_conversion_gives_the_same_ids() -> None:
    """It derives each entry's id from the referral and the side: recording a conversion twice inserts nothing new."""
    first = rewards()
    again = rewards(conversion=replace(CONVERSION, value=Decimal(5), converted_at=CONVERTED_AT + timedelta(hours=1)))
    assert [entry.reward_id for entry in first] == [entry.reward_id for entry in again]
    assert first[0].reward_id == reward_id("referral-1", "referrer")
    assert first[0].reward_id != first[1].reward_id


def test_another_referral_gives_other_ids() -> None:
    """It gives each referral's rewards their own ids."""
    other = rewards(conversion=replace(CONVERSION, referral_id="referral-2"))
    assert {entry.reward_id for entry in other}.isdisjoint(entry.reward_id for entry in rewards())


@pytest.mark.parametrize("window", [-1, MAX_REFUND_WINDOW_DAYS + 1, 10**9, True], ids=repr)
def test_a_refund_window_out_of_bounds_is_refused(window: int) -> None:
    """It refuses a negative or absurd refund window before any date arithmetic can overflow."""
    with pytest.raises(ValueError, match="refund window"):
        rewards(window=window)


def test_a_window_past_the_year_9999_is_refused() -> None:
    """It refuses, with a ValueError, a conversion whose window would end after the last representable date."""
    late = replace(CONVERSION, converted_at=datetime(9999, 12, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="9999"):
        rewards(conversion=late, window=60)


def test_a_negative_count_is_refused() -> None:
    """It refuses a negative number of earlier rewards (a caller's mistake, not a reason to pay)."""
    with pytest.raises(ValueError, match="negative"):
        rewards(so_far=-1)


@pytest.mark.parametrize(
    "fields",
    [
        {"converted_at": datetime(2025, 6, 4, 10, 0)},
        {"value": Decimal(-1)},
        {"value": Decimal("NaN")},
        {"value": Decimal("Infinity")},
        {"referral_id": ""},
    ],
    ids=["naive-time", "negative-value", "nan", "infinity", "no-referral"],
)
def test_a_malformed_conversion_is_refused(fields: dict[str, Any]) -> None:
    """It refuses a conversion without a time zone, with a value that is not a finite amount, or with no referral."""
    with pytest.raises(ValueError):
        replace(CONVERSION, **fields)


# --------------------------------------------------------------------------- pending → issued
def test_a_reward_is_due_once_its_window_has_passed() -> None:
    """It moves a pending reward to issued at issue_after, not a second before."""
    entry = rewards(window=30)[0]
    assert not is_due(entry, entry.issue_after - timedelta(seconds=1))
    assert is_due(entry, entry.issue_after)
    assert issued(entry, entry.issue_after).status == RewardStatus.ISSUED


def test_due_is_judged_in_absolute_time() -> None:
    """It compares instants, whatever time zone `now` is written in."""
    entry = rewards(window=1)[0]
    tokyo = entry.issue_after.astimezone(timezone(timedelta(hours=9)))
    assert is_due(entry, tokyo)


def test_only_pending_rewards_are_due() -> None:
    """It never issues a reward twice or one that was cancelled."""
    entry = rewards(window=0)[0]
    later = CONVERTED_AT + timedelta(days=1)
    assert not is_due(replace(entry, status=RewardStatus.ISSUED), later)
    assert not is_due(replace(entry, status=RewardStatus.CANCELLED), later)
    with pytest.raises(ValueError, match="cancelled"):
        issued(replace(entry, status=RewardStatus.CANCELLED), later)


def test_issuing_early_is_refused() -> None:
    """It refuses to issue a reward inside its refund window."""
    entry = rewards(window=30)[0]
    with pytest.raises(ValueError, match="pending until"):
        issued(entry, CONVERTED_AT)


def test_due_rewards_picks_the_due_ones_in_order() -> None:
    """It returns the pending entries whose window has passed, in the order given."""
    early = rewards(window=1, conversion=replace(CONVERSION, referral_id="a"))
    late = rewards(window=60, conversion=replace(CONVERSION, referral_id="b"))
    done = [replace(entry, status=RewardStatus.ISSUED) for entry in rewards(window=0)]
    now = CONVERTED_AT + timedelta(days=2)
    assert due_rewards([*late, *early, *done], now) == early


def test_a_naive_now_is_refused() -> None:
    """It refuses a `now` without a time zone instead of comparing it with an aware time."""
    with pytest.raises(ValueError, match="time zone"):
        is_due(rewards()[0], datetime(2030, 1, 1))
