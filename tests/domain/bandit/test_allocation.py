"""Allocations: probability matching, the floor, the holdout, and picking by alias table."""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter

import numpy as np
import pytest

from referral_automation.domain.bandit import (
    ArmHistory,
    ArmKey,
    BanditArm,
    BanditSettings,
    alias_table,
    allocate,
    betainc,
    posterior_snapshot,
    refresh,
    with_floor,
)

ARMS = [BanditArm(f"m{m}", f"i{i}") for m in range(3) for i in range(2)]


def settled(arm: BanditArm, sends: int, outcomes: int) -> ArmHistory:
    """Sends old enough that every outcome is in."""
    return ArmHistory(arm.key, (0,) * 60 + (sends,), (0,) * 60 + (outcomes,), 2.0 * outcomes)


def conversion(**changes: object) -> BanditSettings:
    return BanditSettings(objective="conversion", **changes)  # type: ignore[arg-type]


def test_probabilities_sum_to_one_and_paused_arms_get_none() -> None:
    """It gives paused arms no traffic and spreads the rest, holdout included, over the others."""
    arms = [*ARMS[:5], BanditArm("m2", "i1", paused=True)]
    allocation = refresh(arms, [settled(a, 2000, 100 + 20 * k) for k, a in enumerate(arms)], conversion())
    assert sum(allocation.propensities) == pytest.approx(1.0)
    assert allocation.propensities[5] == 0.0
    assert allocation.p_best[5] == 0.0
    assert min(allocation.propensities[:5]) >= 0.05 / 5 - 1e-12


def test_a_clearly_best_arm_gets_most_of_the_traffic() -> None:
    """It sends most traffic to an arm that is clearly best, keeping the holdout's share for the others."""
    histories = [settled(a, 3000, 90) for a in ARMS[:5]] + [settled(ARMS[5], 3000, 300)]
    allocation = refresh(ARMS, histories, conversion())
    assert allocation.p_best[5] == 1.0
    assert allocation.propensities[5] == pytest.approx(0.95 + 0.05 / 6)
    assert allocation.propensities[0] == pytest.approx(0.05 / 6)


def test_every_arm_keeps_the_floor_until_it_has_enough_settled_sends() -> None:
    """It keeps every arm above the exploration floor until it has enough settled sends."""
    settings = conversion(min_share=0.03, min_settled=500, holdout=0.0)
    young = [settled(a, 300, 3) for a in ARMS[:5]] + [settled(ARMS[5], 300, 60)]
    early = refresh(ARMS, young, settings)
    assert min(early.propensities) >= 0.03
    grown = [settled(a, 600, 6) for a in ARMS[:5]] + [settled(ARMS[5], 600, 120)]
    later = refresh(ARMS, grown, settings)
    assert min(later.propensities) < 0.001


def test_the_floor_counts_an_arms_holdout_picks() -> None:
    """It tops an unsettled arm up to the floor's share of all picks, its holdout picks included: the
    floor is what the arm gets in all, not a share on top of the holdout's."""
    young = [settled(a, 300, 3) for a in ARMS[:5]] + [settled(ARMS[5], 300, 60)]
    floored = refresh(ARMS, young, conversion(min_share=0.03, min_settled=500, holdout=0.06))
    assert min(floored.propensities) == pytest.approx(0.03)
    covered = refresh(ARMS, young, conversion(min_share=0.01, min_settled=500, holdout=0.06))
    assert min(covered.propensities) == pytest.approx(0.06 / 6)


def test_floors_that_would_exceed_everything_share_it_evenly() -> None:
    """It splits all traffic evenly among unsettled arms when their floors alone would exceed it."""
    shares = with_floor(np.array([0.7, 0.3, 0.0, 0.0]), np.array([False, True, True, True]), 0.4)
    assert shares.tolist() == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])
    mixed = with_floor(np.array([0.9, 0.1, 0.0]), np.array([False, True, True]), 0.1)
    assert mixed.tolist() == pytest.approx([0.72, 0.18, 0.1])


def test_probability_of_best_matches_the_exact_integral_for_two_arms() -> None:
    """It estimates the probability of being best as the exact integral does, for two Beta posteriors."""
    arms = ARMS[:2]
    histories = [settled(arms[0], 400, 20), settled(arms[1], 300, 21)]
    allocation = refresh(arms, histories, conversion(prior_sends=2.0, draws=200_000), np.random.default_rng(5))
    first, second = allocation.snapshot.arms
    # P(second is best) = integral of second's density times first's CDF, on a fine grid.
    grid = np.linspace(1e-6, 0.3, 60_001)
    log_density = (second.alpha - 1) * np.log(grid) + (second.beta - 1) * np.log1p(-grid)
    density = np.exp(log_density - log_density.max())
    coarse = grid[::100]
    cdf = np.interp(grid, coarse, [betainc(first.alpha, first.beta, float(x)) for x in coarse])
    exact = float(np.sum(cdf * density) / density.sum())
    assert allocation.p_best[1] == pytest.approx(exact, abs=0.005)


def test_uniform_and_fixed_policies_ignore_the_posteriors() -> None:
    """It splits evenly under ``uniform`` and by the operator's weights under ``fixed``."""
    histories = [settled(a, 3000, 30 * (k + 1)) for k, a in enumerate(ARMS)]
    uniform = refresh(ARMS, histories, conversion(policy="uniform", min_share=0.0))
    assert uniform.propensities == pytest.approx([1 / 6] * 6)
    weights = {ArmKey("m0", "i0"): 3.0, ArmKey("m1", "i0"): 1.0}
    fixed = refresh(ARMS, histories, conversion(policy="fixed", fixed_weights=weights, holdout=0.0, min_share=0.0))
    assert fixed.propensities == pytest.approx([0.75, 0.0, 0.25, 0.0, 0.0, 0.0])


def test_every_arm_paused_is_refused() -> None:
    """It refuses to allocate when every arm is paused."""
    with pytest.raises(ValueError):
        refresh([BanditArm("a", "b", paused=True)], [], BanditSettings())


def test_the_alias_table_reproduces_the_shares_exactly() -> None:
    """It builds an alias table whose columns add back up to each arm's share, zero shares included."""
    rng = np.random.default_rng(3)
    for n in (1, 2, 6, 100):
        shares = rng.dirichlet(np.ones(n))
        shares[rng.random(n) < 0.2] = 0.0
        if shares.sum() == 0:
            shares[0] = 1.0
        shares /= shares.sum()
        threshold, alias = alias_table(shares)
        rebuilt = np.array(threshold) / n
        for j, a in enumerate(alias):
            rebuilt[a] += (1.0 - threshold[j]) / n
        assert rebuilt == pytest.approx(shares, abs=1e-12)


def test_picks_follow_the_propensities_like_a_cumulative_search() -> None:
    """It picks arms as often as their propensities say, agreeing with a plain search over cumulative weights."""
    arms = [BanditArm(f"v{k}", "i", paused=k == 3) for k in range(8)]
    histories = [settled(a, 1000, 20 + 5 * k) for k, a in enumerate(arms)]
    allocation = refresh(arms, histories, conversion(holdout=0.2))
    rng, plain_rng = random.Random(11), random.Random(12)
    n = 200_000
    picked = Counter(allocation.pick(rng).arm_index for _ in range(n))
    cumulative = list(itertools.accumulate(allocation.propensities))
    plain = Counter(bisect.bisect_right(cumulative, plain_rng.random() * cumulative[-1]) for _ in range(n))
    for k, p in enumerate(allocation.propensities):
        tolerance = 4 * (p * (1 - p) / n) ** 0.5 + 1e-9
        assert picked[k] / n == pytest.approx(p, abs=tolerance)
        assert plain[k] / n == pytest.approx(p, abs=tolerance)
    assert picked[3] == 0


def test_a_choice_carries_its_propensities_version_and_holdout_flag() -> None:
    """It returns with every choice all arms' probabilities, the model version and whether the holdout chose."""
    allocation = refresh(ARMS, [settled(a, 500, 25) for a in ARMS], conversion(holdout=0.25))
    rng = random.Random(2)
    choices = [allocation.pick(rng) for _ in range(20_000)]
    assert all(c.propensities is allocation.propensities for c in choices)
    assert {c.model_version for c in choices} == {allocation.version}
    assert all(c.arm == ARMS[c.arm_index] and c.propensity == allocation.propensities[c.arm_index] for c in choices)
    share = sum(c.from_holdout for c in choices) / len(choices)
    assert share == pytest.approx(0.25, abs=0.015)
    assert len({c.arm_index for c in choices if c.from_holdout}) == 6


def test_workers_refreshing_the_same_data_agree() -> None:
    """It gives every worker refreshing the same history the same allocation and model version."""
    histories = [settled(a, 800, 30 + k) for k, a in enumerate(ARMS)]
    one, two = refresh(ARMS, histories, BanditSettings()), refresh(ARMS, histories, BanditSettings())
    assert one.propensities == two.propensities
    assert one.version == two.version
    changed = refresh(ARMS, [*histories[:5], settled(ARMS[5], 800, 90)], BanditSettings())
    assert changed.version != one.version


def test_allocate_uses_the_injected_generator() -> None:
    """It draws its Monte Carlo estimate from the generator it is given, so a seed reproduces it."""
    snapshot = posterior_snapshot(ARMS, [settled(a, 300, 10 + k) for k, a in enumerate(ARMS)], conversion())
    first = allocate(snapshot, np.random.default_rng(9))
    again = allocate(snapshot, np.random.default_rng(9))
    other = allocate(snapshot, np.random.default_rng(10))
    assert first.p_best == again.p_best != other.p_best


def test_arms_worth_exactly_the_same_share_the_traffic() -> None:
    """It splits evenly between arms worth exactly nothing, rather than favouring the first listed."""
    arms = [BanditArm(f"v{k}", "i", cost=100.0) for k in range(4)]
    histories = [ArmHistory(a.key, (0,) * 60 + (1000,), (0,) * 60 + (50,), 100.0, 5000.0) for a in arms]
    allocation = refresh(arms, histories, BanditSettings(draws=40_000), np.random.default_rng(1))
    assert [p.margin for p in allocation.snapshot.arms] == [0.0] * 4
    assert allocation.p_best == pytest.approx([0.25] * 4, abs=0.01)


def in_flight(arm: BanditArm, old: int, outcomes: int, young: int) -> ArmHistory:
    """``old`` sends with every outcome in and ``young`` sent today, none of whose outcomes can be in."""
    return ArmHistory(arm.key, (young,) + (0,) * 59 + (old,), (0,) * 60 + (outcomes,), 30.0 * outcomes)


def test_sends_in_flight_narrow_what_thompson_allocates_by_but_not_what_it_reports() -> None:
    """It allocates more to the leader when many of every arm's sends still await their outcome (they
    will arrive whatever it does now), while the reported probability of being best stays the plain
    posterior's."""
    arms = ARMS[:2]
    histories = [in_flight(arms[0], 400, 20, 4000), in_flight(arms[1], 400, 28, 4000)]
    settings = conversion(holdout=0.0, min_share=0.0, prior_delay_days=30.0)
    counting = allocate(posterior_snapshot(arms, histories, settings), np.random.default_rng(5))
    plain = allocate(
        posterior_snapshot(arms, histories, conversion(holdout=0.0, min_share=0.0, prior_delay_days=30.0,
                                                       count_in_flight=False)),
        np.random.default_rng(5),
    )  # fmt: skip
    assert counting.snapshot.arms[1].in_flight > 3000
    assert counting.p_best == plain.p_best
    assert plain.policy_shares == plain.p_best
    assert counting.policy_shares[1] > plain.policy_shares[1] + 0.05
    assert counting.snapshot.arms[1].mean == plain.snapshot.arms[1].mean


def test_nothing_in_flight_changes_nothing() -> None:
    """It allocates exactly as the plain posterior says when every outcome is in (sends two months old:
    less than one outcome's worth in flight in all)."""
    histories = [settled(a, 500, 20 + 3 * k) for k, a in enumerate(ARMS)]
    counting = allocate(posterior_snapshot(ARMS, histories, conversion()), np.random.default_rng(9))
    plain = allocate(posterior_snapshot(ARMS, histories, conversion(count_in_flight=False)), np.random.default_rng(9))
    assert sum(p.in_flight for p in counting.snapshot.arms) < 1.0
    assert counting.policy_shares == plain.policy_shares
