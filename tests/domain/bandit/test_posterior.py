"""Posteriors: effective sends under delay, the objective's worth of an outcome, and the pooled prior."""

from __future__ import annotations

import numpy as np
import pytest

from referral_automation.domain.bandit import (
    ArmHistory,
    ArmKey,
    BanditArm,
    BanditSettings,
    DelayModel,
    posterior_snapshot,
)
from referral_automation.domain.bandit.posterior import prior_strength

CHEAP = BanditArm("m1", "credit10", cost=10.0)
DEAR = BanditArm("m1", "credit50", cost=50.0)


def history(
    arm: BanditArm, sends: list[int], outcomes: list[int], delay: float = 0.0, value: float = 0.0
) -> ArmHistory:
    return ArmHistory(arm.key, tuple(sends), tuple(outcomes), delay, value)


def test_effective_sends_weigh_each_send_by_the_chance_its_outcome_is_in() -> None:
    """It counts a send of each age as the delay's CDF at that age, as a plain sum over single sends would."""
    settings = BanditSettings(prior_delay_days=4.0, delay_prior_outcomes=1e9)  # the delay is known: 4 days
    sends = [120, 80, 60, 0, 40, 10, 0, 5]
    snapshot = posterior_snapshot([CHEAP], [history(CHEAP, sends, [0] * 8)], settings)
    shares = DelayModel(snapshot.delay.mean_days if snapshot.delay else 0.0).observed_share(8)
    plain = sum(float(shares[age]) for age, count in enumerate(sends) for _ in range(count))
    assert snapshot.delay is not None
    assert snapshot.delay.mean_days == pytest.approx(4.0, rel=1e-6)
    assert snapshot.arms[0].settled_sends == pytest.approx(plain)
    assert snapshot.arms[0].sends == sum(sends)


def test_pending_sends_are_not_failures() -> None:
    """It does not hold an arm's recent, still pending sends against it, where counting them as failures would."""
    old = BanditArm("old", "i")
    new = BanditArm("new", "i")
    # Both convert 10 % in the end after a 3-day mean delay; the new arm's sends are one day old.
    histories = [history(old, [0] * 30 + [1000], [0] * 30 + [100], 300.0), history(new, [1000], [15], 4.0)]
    fair = posterior_snapshot([old, new], histories, BanditSettings(prior_sends=2.0, objective="conversion"))
    naive = posterior_snapshot(
        [old, new], histories, BanditSettings(prior_sends=2.0, objective="conversion", delay="pending_as_failure")
    )
    assert fair.arms[1].mean == pytest.approx(fair.arms[0].mean, rel=0.2)
    assert naive.arms[1].mean < 0.2 * naive.arms[0].mean


def test_a_fixed_window_counts_only_sends_older_than_it() -> None:
    """It ignores sends younger than the window, and their outcomes, when asked to wait it out."""
    settings = BanditSettings(delay="fixed_window", window_days=3, prior_sends=2.0, objective="conversion")
    snapshot = posterior_snapshot([CHEAP], [history(CHEAP, [50, 50, 50, 20, 30], [4, 2, 1, 3, 6])], settings)
    arm = snapshot.arms[0]
    assert arm.settled_sends == 50
    assert arm.alpha + arm.beta == pytest.approx(52.0)
    assert arm.outcomes == 16  # every outcome seen is still reported


def test_profit_does_not_crown_the_arm_that_pays_the_biggest_reward() -> None:
    """It ranks by value minus cost: the arm that converts best but pays the most loses to a cheaper one."""
    histories = [
        history(CHEAP, [0] * 60 + [10_000], [0] * 60 + [800], 2400.0, 80_000.0),
        history(DEAR, [0] * 60 + [10_000], [0] * 60 + [1200], 3600.0, 120_000.0),
    ]
    profit = posterior_snapshot([CHEAP, DEAR], histories, BanditSettings())
    conversion = posterior_snapshot([CHEAP, DEAR], histories, BanditSettings(objective="conversion"))
    assert profit.arms[0].score == pytest.approx(0.08 * 90, rel=0.01)
    assert profit.arms[1].score == pytest.approx(0.12 * 50, rel=0.01)
    assert profit.arms[0].score > profit.arms[1].score
    assert conversion.arms[1].score > conversion.arms[0].score


def test_an_arms_value_is_shrunk_towards_the_campaigns_mean() -> None:
    """It estimates an arm's value per conversion from its own conversions, pulled towards the campaign's mean."""
    lucky = BanditArm("lucky", "i")
    settings = BanditSettings(value_prior_conversions=5.0)
    histories = [
        history(CHEAP, [0, 1000], [0, 95], 100.0, 9500.0),
        history(lucky, [0, 1000], [0, 5], 5.0, 5000.0),  # five conversions worth 1,000 each
    ]
    snapshot = posterior_snapshot([CHEAP, lucky], histories, settings)
    campaign_mean = 14_500 / 100
    assert snapshot.arms[1].value == pytest.approx((5 * campaign_mean + 5000.0) / 10)
    assert snapshot.arms[0].value == pytest.approx((5 * campaign_mean + 9500.0) / 100)


def test_without_any_value_profit_ranks_by_conversion() -> None:
    """It ranks by conversion until a conversion value is recorded or configured."""
    empty = posterior_snapshot([CHEAP, DEAR], [], BanditSettings())
    assert [p.margin for p in empty.arms] == [1.0, 1.0]
    assert [p.value for p in empty.arms] == [None, None]
    configured = posterior_snapshot([CHEAP, DEAR], [], BanditSettings(default_value=100.0))
    assert [p.margin for p in configured.arms] == [90.0, 50.0]


def test_other_objectives_count_outcomes_alike() -> None:
    """It gives every reply or referral the same worth, whatever the incentive costs."""
    snapshot = posterior_snapshot([CHEAP, DEAR], [], BanditSettings(objective="reply", default_value=100.0))
    assert [p.margin for p in snapshot.arms] == [1.0, 1.0]
    assert [p.value for p in snapshot.arms] == [None, None]


def test_arms_that_look_alike_share_a_strong_prior() -> None:
    """It pools arms whose rates differ no more than sampling explains, and lets clearly different arms apart."""
    settings = BanditSettings()
    settled = np.array([2000.0, 2000.0, 2000.0])
    alike = prior_strength(np.array([60.0, 61.0, 59.0]), settled, 0.03, settings)
    apart = prior_strength(np.array([20.0, 60.0, 200.0]), settled, 280 / 6000, settings)
    assert alike == settings.max_prior_sends
    assert settings.min_prior_sends <= apart < 100
    assert prior_strength(np.array([60.0]), np.array([2000.0]), 0.03, BanditSettings(prior_sends=7.0)) == 7.0


def test_a_new_campaign_starts_at_the_prior_rate() -> None:
    """It starts every arm of a campaign without history at the configured prior rate."""
    snapshot = posterior_snapshot([CHEAP, DEAR], [], BanditSettings(prior_rate=0.04))
    assert [p.mean for p in snapshot.arms] == pytest.approx([0.04, 0.04])
    assert [p.sends for p in snapshot.arms] == [0, 0]


def test_histories_of_unconfigured_arms_are_ignored() -> None:
    """It ignores history recorded for an arm no longer configured."""
    gone = ArmHistory(ArmKey("gone", "x"), (100,), (50,), 10.0, 500.0)
    with_gone = posterior_snapshot([CHEAP], [gone], BanditSettings())
    without = posterior_snapshot([CHEAP], [], BanditSettings())
    assert with_gone.arms == without.arms


def test_arms_must_be_distinct_and_present() -> None:
    """It refuses an empty arm list or the same arm twice."""
    with pytest.raises(ValueError):
        posterior_snapshot([], [], BanditSettings())
    with pytest.raises(ValueError):
        posterior_snapshot([CHEAP, BanditArm("m1", "credit10", paused=True)], [], BanditSettings())


def test_the_fingerprint_follows_the_data() -> None:
    """It fingerprints a snapshot by its settings and posteriors: same data, same print; new data, new print."""
    one = posterior_snapshot([CHEAP], [history(CHEAP, [10, 10], [1, 0], 0.5)], BanditSettings())
    again = posterior_snapshot([CHEAP], [history(CHEAP, [10, 10], [1, 0], 0.5)], BanditSettings())
    other = posterior_snapshot([CHEAP], [history(CHEAP, [10, 10], [1, 1], 1.5)], BanditSettings())
    assert one.fingerprint() == again.fingerprint() != other.fingerprint()
    assert one.seed() == again.seed()
