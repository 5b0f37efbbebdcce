"""The report's math: per-arm summaries, inverse propensity weighting, the sample-ratio-mismatch check."""

from __future__ import annotations

import random

import pytest

from referral_automation.domain.bandit import (
    ArmHistory,
    ArmKey,
    BanditArm,
    BanditSettings,
    LoggedOutcome,
    betainc,
    ipw_estimate,
    ipw_totals,
    refresh,
    sample_ratio_mismatch,
    summarize,
)

A, B, C = ArmKey("a", "x"), ArmKey("b", "x"), ArmKey("c", "x")


def _history(key: ArmKey, sends: int, conversions: int, value: float) -> ArmHistory:
    return ArmHistory(key, (0,) * 60 + (sends,), (0,) * 60 + (conversions,), 2.0 * conversions, value * conversions)


def test_each_arm_is_summarised_with_a_credible_interval() -> None:
    """It reports each arm's mean inside its 95 % interval, the interval narrower where there is more data."""
    arms = [BanditArm("a", "x", cost=10.0), BanditArm("b", "x", cost=50.0)]
    histories = [_history(A, 5000, 400, 100.0), _history(B, 500, 60, 100.0)]
    allocation = refresh(arms, histories, BanditSettings(prior_sends=2.0))
    lines = summarize(allocation)
    for line, posterior in zip(lines, allocation.snapshot.arms, strict=True):
        assert line.low < line.mean < line.high
        assert betainc(posterior.alpha, posterior.beta, line.low) == pytest.approx(0.025, rel=1e-6)
        assert betainc(posterior.alpha, posterior.beta, line.high) == pytest.approx(0.975, rel=1e-6)
        assert line.expected_profit_per_send == pytest.approx(line.mean * (100.0 - line.arm.cost))
    assert lines[0].high - lines[0].low < lines[1].high - lines[1].low
    assert (lines[0].sends, lines[0].outcomes) == (5000, 400)
    assert sum(line.p_best for line in lines) == pytest.approx(1.0)
    assert [line.propensity for line in lines] == list(allocation.propensities)


def test_replies_have_no_profit_per_send() -> None:
    """It reports no profit per send when the objective's outcome is not a conversion."""
    allocation = refresh([BanditArm("a", "x")], [_history(A, 100, 10, 0.0)], BanditSettings(objective="reply"))
    (line,) = summarize(allocation)
    assert line.expected_profit_per_send is None
    with pytest.raises(ValueError):
        summarize(allocation, level=1.0)


def _logged(n: int, seed: int) -> list[LoggedOutcome]:
    """A logging policy 60/30/10 over arms paying on average 1, 2 and 5."""
    rng = random.Random(seed)
    policy = {A: 0.6, B: 0.3, C: 0.1}
    worth = {A: 1.0, B: 2.0, C: 5.0}
    logs = []
    for _ in range(n):
        arm = rng.choices(list(policy), weights=list(policy.values()))[0]
        logs.append(LoggedOutcome(arm, policy[arm], rng.expovariate(1.0 / worth[arm])))
    return logs


def test_inverse_propensity_weighting_estimates_another_policys_value() -> None:
    """It estimates from logged choices what a different policy would earn per send."""
    totals = ipw_totals(_logged(60_000, seed=1))
    estimate = ipw_estimate(totals, {A: 0.2, B: 0.2, C: 0.6})
    truth = 0.2 * 1.0 + 0.2 * 2.0 + 0.6 * 5.0
    assert estimate.choices == 60_000
    assert abs(estimate.value - truth) < 4 * estimate.stderr
    assert 0.0 < estimate.stderr < 0.1
    assert estimate.self_normalized == pytest.approx(truth, rel=0.05)
    assert ipw_estimate(totals, {C: 1.0}).value == pytest.approx(5.0, rel=0.05)


def test_the_totals_give_the_same_estimate_as_the_single_logs() -> None:
    """It gets from per-arm sums exactly the estimate that averaging every weighted log gives."""
    logs = _logged(2_000, seed=2)
    target = {A: 0.5, C: 0.5}
    plain = sum(target.get(log.arm, 0.0) * log.reward / log.propensity for log in logs) / len(logs)
    assert ipw_estimate(ipw_totals(logs), target).value == pytest.approx(plain, rel=1e-12)


def test_impossible_propensities_are_refused() -> None:
    """It refuses a logged propensity of zero or above one, and estimates nothing from no logs."""
    with pytest.raises(ValueError):
        ipw_totals([LoggedOutcome(A, 0.0, 1.0)])
    with pytest.raises(ValueError):
        ipw_totals([LoggedOutcome(A, 1.5, 1.0)])
    assert ipw_estimate([], {A: 1.0}).choices == 0


def test_an_allocation_as_logged_raises_no_mismatch() -> None:
    """It stays quiet when arms were chosen as often as their logged probabilities say."""
    check = sample_ratio_mismatch({A: 5030, B: 2980, C: 1990}, {A: 5000.0, B: 3000.0, C: 2000.0})
    assert not check.mismatch
    assert check.df == 2
    assert check.p_value > 0.5


def test_a_drifted_allocation_is_flagged() -> None:
    """It warns when the observed split drifts from the logged probabilities beyond chance (p < 0.001)."""
    check = sample_ratio_mismatch({A: 5300, B: 2750, C: 1950}, {A: 5000.0, B: 3000.0, C: 2000.0})
    assert check.mismatch
    assert check.p_value < 0.001


def test_an_arm_chosen_where_it_could_not_be_is_a_mismatch() -> None:
    """It flags an arm chosen although its logged probability was zero (a paused arm still being sent)."""
    check = sample_ratio_mismatch({A: 100, B: 3}, {A: 103.0})
    assert check.mismatch
    assert check.p_value == 0.0


def test_nothing_to_compare_is_no_mismatch() -> None:
    """It reports no mismatch without choices or with a single arm."""
    assert not sample_ratio_mismatch({}, {}).mismatch
    assert not sample_ratio_mismatch({A: 10}, {A: 10.0}).mismatch
