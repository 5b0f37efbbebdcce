"""A campaign's test as the report shows it: posteriors, IPW estimates, the holdout, the allocation check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import ReferralRequest
from referral_automation.domain.arms import bandit_arms
from referral_automation.domain.bandit import BanditSettings, refresh
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.bandit.report import UnknownCampaignError, show_campaign
from tests.support.bandit import add_advocate, add_outcomes, add_sends
from tests.support.detect_factories import SHIPPED_CONFIG

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CAMPAIGN = SHIPPED_CONFIG.campaign("customer_referral")
COSTS = {i.id: float(i.cost) for i in CAMPAIGN.incentives}


def logged_history(factory: sessionmaker[Session]) -> list[str]:
    """Three hundred sends a month or two ago, picked by an allocation with a large holdout; every seventh
    converted two days later, worth 500 or 300."""
    add_advocate(factory, at=NOW)
    allocation = refresh(bandit_arms(CAMPAIGN), [], BanditSettings(holdout=0.4))
    sent = [NOW - (30 + n % 30) * DAY for n in range(300)]
    ids = add_sends(factory, sent, allocation=allocation)
    outcomes = [
        (request, ResponseKind.CONVERSION, sent[7 * n] + 2 * DAY, {"value": 500 if n % 2 else 300})
        for n, request in enumerate(ids[::7])
    ]
    add_outcomes(factory, outcomes, now=NOW)
    return ids


def logged(factory: sessionmaker[Session]) -> list[ReferralRequest]:
    with factory() as session:
        return list(session.scalars(select(ReferralRequest)))


def test_each_arms_ipw_estimate_is_its_reward_over_propensity_per_logged_send(factory: sessionmaker[Session]) -> None:
    """It estimates each arm's profit per send as the sum of (value - cost) / propensity over its settled sends,
    divided by all settled sends."""
    ids = logged_history(factory)
    worth = {request: 500.0 if n % 2 else 300.0 for n, request in enumerate(ids[::7])}

    report = show_campaign(factory, SHIPPED_CONFIG, "customer_referral", now=NOW)

    requests = logged(factory)
    assert len(requests) == 300
    for line in report.arms:
        arm = line.summary.arm
        mine = [r for r in requests if (r.variant, r.incentive) == (arm.variant, arm.incentive)]
        expected = sum(
            (worth[r.id] - COSTS[arm.incentive] if r.id in worth else 0.0) / (r.arm_propensity or 1) for r in mine
        )
        assert line.ipw.value == pytest.approx(expected / 300)
        assert line.ipw.choices == 300
        assert line.summary.sends == len(mine)


def test_the_holdout_is_compared_with_the_policy(factory: sessionmaker[Session]) -> None:
    """It reports the profit per settled send of the holdout's choices beside the policy's, and the lift."""
    ids = logged_history(factory)
    worth = {request: 500.0 if n % 2 else 300.0 for n, request in enumerate(ids[::7])}

    holdout = show_campaign(factory, SHIPPED_CONFIG, "customer_referral", now=NOW).holdout

    requests = logged(factory)
    for side, sends, per_send in ((True, holdout.holdout_sends, holdout.holdout_per_send),
                                  (False, holdout.policy_sends, holdout.policy_per_send)):  # fmt: skip
        mine = [r for r in requests if r.from_holdout is side]
        assert sends == len(mine) > 50
        profit = sum(worth[r.id] - COSTS[r.incentive] for r in mine if r.id in worth)
        assert per_send == pytest.approx(profit / len(mine))
    assert holdout.lift == pytest.approx((holdout.policy_per_send or 0) - (holdout.holdout_per_send or 0))


def test_choices_that_drift_from_their_logged_probabilities_are_flagged(factory: sessionmaker[Session]) -> None:
    """It finds the recent logged choices in line with their probabilities, warns once a third of them are
    moved to one arm behind the model's back, and stops warning when those choices are weeks old."""
    ids = logged_history(factory)
    soon = NOW - 25 * DAY  # the choices were made 30 to 60 days before NOW
    fair = show_campaign(factory, SHIPPED_CONFIG, "customer_referral", now=soon)
    assert not fair.sample_ratio.mismatch
    assert fair.sample_ratio.df == 5
    assert not any("WARNING" in note for note in fair.notes())

    with factory() as session, session.begin():
        moved = update(ReferralRequest).where(ReferralRequest.id.in_(ids[:100]))
        session.execute(moved.values(variant="gratitude", incentive="donation"))
    drifted = show_campaign(factory, SHIPPED_CONFIG, "customer_referral", now=soon)
    later = show_campaign(factory, SHIPPED_CONFIG, "customer_referral", now=NOW + 30 * DAY)

    assert drifted.sample_ratio.mismatch
    assert any(note.startswith("WARNING: sample ratio mismatch") for note in drifted.notes())
    assert not later.sample_ratio.mismatch


def test_a_fresh_campaign_reports_every_arm_with_nothing_yet(factory: sessionmaker[Session]) -> None:
    """It lists every configured arm with no sends, even shares, no IPW figure and JSON without infinities."""
    report = show_campaign(factory, SHIPPED_CONFIG, "customer_referral", now=NOW)

    assert [line.name for line in report.arms] == [f"{a.variant} × {a.incentive}" for a in CAMPAIGN.arms()]
    assert all(line.summary.sends == 0 and line.ipw.choices == 0 for line in report.arms)
    document = json.loads(json.dumps(report.as_json(), allow_nan=False))
    assert [arm["ipw_per_send"] for arm in document["arms"]] == [None] * 6
    assert document["holdout"]["lift_per_send"] is None
    assert [row["IPW / send"] for row in report.table()] == ["-"] * 6
    assert set(report.table()[0]) == {"arm", "sends", "outcomes", "rate", "95 % interval", "P(best)", "share now",
                                      "profit / send", "IPW / send"}  # fmt: skip


def test_an_unknown_campaign_is_named_with_the_known_ones(factory: sessionmaker[Session]) -> None:
    """It refuses a campaign the configuration does not have, naming those it has."""
    with pytest.raises(UnknownCampaignError, match=r"unknown campaign 'partners' .*customer_referral"):
        show_campaign(factory, SHIPPED_CONFIG, "partners", now=NOW)
