"""Refreshing every campaign's test from the recorded sends and outcomes, once per detection run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, ArmTest
from referral_automation.db.models import BanditAllocation
from referral_automation.domain.bandit import ArmKey
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.bandit.refresh import refresh_allocations
from tests.support.bandit import add_advocate, add_outcomes, add_sends
from tests.support.detect_factories import SHIPPED_CONFIG

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WINNER = ArmKey("direct_ask", "donation")


def recorded(factory: sessionmaker[Session]) -> list[BanditAllocation]:
    with factory() as session:
        return list(session.scalars(select(BanditAllocation)))


def with_history(factory: sessionmaker[Session]) -> None:
    """Three weeks of sends on every arm; the winner converted a fifth of its sends, the others one in fifty."""
    add_advocate(factory, at=NOW)
    campaign = SHIPPED_CONFIG.campaign("customer_referral")
    for variant in campaign.variants:
        for incentive in campaign.incentives:
            arm = ArmKey(variant.id, incentive.id)
            ids = add_sends(factory, [NOW - (10 + n % 11) * DAY for n in range(100)], arm=arm)
            every = 5 if arm == WINNER else 50
            add_outcomes(
                factory,
                [(i, ResponseKind.CONVERSION, NOW - 8 * DAY, {"value": 400}) for i in ids[::every]],
                now=NOW,
            )


def test_every_campaign_gets_an_allocation_recorded_once(factory: sessionmaker[Session]) -> None:
    """It refreshes each configured campaign and records its allocation once however often the run repeats."""
    first = refresh_allocations(factory, SHIPPED_CONFIG, now=NOW)
    again = refresh_allocations(factory, SHIPPED_CONFIG, now=NOW + timedelta(minutes=15))

    assert list(first) == list(SHIPPED_CONFIG.campaigns.campaigns)
    assert first["customer_referral"].version == again["customer_referral"].version
    (row,) = recorded(factory)
    assert row.version == first["customer_referral"].version
    assert (row.policy, row.objective, row.holdout) == ("thompson", "profit", 0.05)
    assert [arm[:2] for arm in row.arms] == [[a.variant, a.incentive] for a in first["customer_referral"].arms]
    assert sum(arm[2] for arm in row.arms) == pytest.approx(1.0)


def test_traffic_moves_to_the_arm_whose_recorded_conversions_earn_most(factory: sessionmaker[Session]) -> None:
    """It gives most of the next requests to the arm that converted best at the lowest cost, and a new version."""
    empty = refresh_allocations(factory, SHIPPED_CONFIG, now=NOW)["customer_referral"]
    with_history(factory)

    allocation = refresh_allocations(factory, SHIPPED_CONFIG, now=NOW)["customer_referral"]

    shares = {arm.key: p for arm, p in zip(allocation.arms, allocation.propensities, strict=True)}
    assert max(shares, key=shares.__getitem__) == WINNER
    assert shares[WINNER] > 0.8
    assert allocation.version != empty.version
    assert len(recorded(factory)) == 2


def test_what_happens_after_now_is_not_yet_known(factory: sessionmaker[Session]) -> None:
    """It refreshes as of the run's time: sends and conversions after it do not count."""
    with_history(factory)
    before = refresh_allocations(factory, SHIPPED_CONFIG, now=NOW - 30 * DAY)["customer_referral"]
    assert all(abs(p - 1 / 6) < 0.03 for p in before.propensities)


def test_a_campaigns_test_settings_shape_its_allocation(factory: sessionmaker[Session]) -> None:
    """It follows the configured test: a paused arm gets nothing, a fixed weight gets the rest after the holdout."""
    campaign = SHIPPED_CONFIG.campaign("customer_referral")
    test = ArmTest.model_validate(
        {
            "policy": "fixed",
            "holdout": 0.1,
            "exploration_floor": 0,
            "arms": [
                {"variant": "gratitude", "incentive": "donation", "weight": 1},
                {"variant": "direct_ask", "incentive": "donation", "weight": 1, "paused": True},
                {"variant": "social_proof", "incentive": "donation"},
            ],
        }
    )
    config = SHIPPED_CONFIG.model_copy(
        update={
            "campaigns": SHIPPED_CONFIG.campaigns.model_copy(
                update={"campaigns": {"customer_referral": campaign.model_copy(update={"test": test})}}
            )
        }
    )
    assert isinstance(config, AppConfig)

    allocation = refresh_allocations(factory, config, now=NOW)["customer_referral"]

    assert [round(p, 9) for p in allocation.propensities] == [0.95, 0.0, 0.05]
