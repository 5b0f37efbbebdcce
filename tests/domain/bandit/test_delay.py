"""The delay model: the share of outcomes in by a send's age, and its estimate from truncated delays."""

from __future__ import annotations

import numpy as np
import pytest

from referral_automation.domain.bandit import DelayModel, estimate_delay
from referral_automation.domain.bandit.delay import truncated_mean


def test_the_observed_share_is_the_cdf_averaged_over_each_age_bucket() -> None:
    """It gives each age bucket the exponential CDF averaged over the bucket's ages (checked by quadrature)."""
    model = DelayModel(mean_days=3.0)
    shares = model.observed_share(10)
    for day in range(10):
        ages = np.linspace(day, day + 1, 20_001)
        plain = float(np.mean(1.0 - np.exp(-ages / 3.0)))
        assert shares[day] == pytest.approx(plain, abs=1e-6)
    assert np.all(np.diff(shares) > 0)
    assert 0.0 < shares[0] < 0.2
    assert shares[9] > 0.95


def test_instant_outcomes_are_all_in_at_once() -> None:
    """It counts every send as settled when outcomes arrive at once."""
    assert DelayModel(mean_days=1e-3).observed_share(3) == pytest.approx([1.0, 1.0, 1.0], abs=2e-3)


def test_the_truncated_mean_lies_below_the_limit_and_the_mean() -> None:
    """It gives the mean of an exponential cut at each limit: about half a short limit, the mean for a long one."""
    means = truncated_mean(4.0, np.array([0.01, 1.0, 10.0, 1000.0]))
    assert means[0] == pytest.approx(0.005, rel=1e-3)
    assert means[1] < 0.5
    assert means[2] < 4.0
    assert means[3] == pytest.approx(4.0)


def _seen_outcomes(mean_days: float, days: int, seed: int) -> tuple[np.ndarray, float, float]:
    """Sends spread over ``days`` days, each converting after an exponential delay; what is seen today."""
    rng = np.random.default_rng(seed)
    ages = rng.uniform(0, days, 200_000)
    delays = rng.exponential(mean_days, ages.size)
    seen = delays <= ages
    counts = np.bincount(np.floor(ages[seen]).astype(int), minlength=days).astype(float)
    return counts, float(delays[seen].sum()), float(delays[seen].mean())


def test_it_recovers_the_mean_delay_from_outcomes_seen_so_far() -> None:
    """It estimates the mean delay from seen outcomes without the bias towards quick ones that a plain
    average of them has."""
    counts, total, naive = _seen_outcomes(mean_days=5.0, days=10, seed=1)
    model = estimate_delay(counts, total, prior_mean_days=1.0, prior_outcomes=2.0)
    assert model.mean_days == pytest.approx(5.0, rel=0.05)
    assert naive < 3.5  # the plain average of what has arrived is far too short


def test_without_outcomes_the_prior_mean_stands() -> None:
    """It falls back on the prior's mean delay before any outcome arrives."""
    model = estimate_delay(np.zeros(30), 0.0, prior_mean_days=3.0, prior_outcomes=2.0)
    assert model.mean_days == pytest.approx(3.0, rel=1e-6)


def test_a_few_outcomes_move_the_estimate_only_part_way() -> None:
    """It weighs a handful of outcomes against the prior's pseudo-outcomes."""
    counts = np.zeros(400)
    counts[399] = 2  # two outcomes of sends old enough for truncation not to matter, ten days each
    model = estimate_delay(counts, 20.0, prior_mean_days=2.0, prior_outcomes=2.0)
    assert model.mean_days == pytest.approx(6.0, rel=1e-3)
