"""The simulator: the real selection code day by day in a synthetic world with delayed conversions."""

from __future__ import annotations

import json

import pytest

from referral_automation.domain.bandit import BanditSettings
from referral_automation.services.bandit.simulator import (
    POLICIES,
    WORLDS,
    SimArm,
    benchmark_world,
    run_policy,
    simulate,
)

SPREAD = benchmark_world("spread")


def test_the_same_seed_gives_the_same_run() -> None:
    """It reproduces a run exactly from its seed, and another seed gives another run."""
    first = simulate(SPREAD, sends=3000, seed=4, per_day=300)
    again = simulate(SPREAD, sends=3000, seed=4, per_day=300)
    other = simulate(SPREAD, sends=3000, seed=5, per_day=300)
    assert first == again
    assert first.to_json() != other.to_json()


def test_the_json_has_what_the_cli_prints() -> None:
    """It reports policy, sends, regret beside uniform's, and per arm its share, true rate and conversions."""
    result = simulate(SPREAD, sends=2000, seed=1, per_day=500)
    data = json.loads(json.dumps(result.to_json()))
    assert {"policy", "sends", "regret", "uniform_regret", "arms"} <= set(data)
    assert data["policy"] == "thompson"
    assert data["sends"] == 2000
    assert [arm["name"] for arm in data["arms"]] == [arm.name for arm in SPREAD]
    for arm in data["arms"]:
        assert {"name", "share", "true_rate", "conversions", "profit"} <= set(arm)
    assert sum(arm["share"] for arm in data["arms"]) == pytest.approx(1.0)
    assert data["best_arm"] == "m3/credit10"


def test_thompson_earns_more_than_uniform() -> None:
    """It moves traffic to the most profitable arm: less regret than uniform, most sends on the best arm."""
    result = simulate(SPREAD, sends=10_000, seed=2, per_day=500)
    assert result.run.regret < 0.4 * result.uniform.regret
    shares = {arm.name: arm.share for arm in result.run.arms}
    assert max(shares, key=shares.__getitem__) == "m3/credit10"


def test_uniform_regret_is_the_average_gap() -> None:
    """It charges uniform about the gap between the best arm's profit and the average arm's on every send."""
    run = run_policy(SPREAD, sends=12_000, seed=3, policy="uniform")
    best = max(arm.profit for arm in SPREAD)
    average = sum(arm.profit for arm in SPREAD) / len(SPREAD)
    assert run.regret == pytest.approx(12_000 * (best - average), rel=0.05)
    assert run.holdout_sends == 0
    assert all(arm.share == pytest.approx(1 / 6, abs=0.02) for arm in run.arms)


def test_conversions_follow_the_true_rates() -> None:
    """It converts each arm's sends at the arm's true rate, and counts profit as value minus cost per conversion."""
    run = run_policy(SPREAD, sends=30_000, seed=6, policy="uniform")
    for arm, world in zip(run.arms, SPREAD, strict=True):
        assert arm.conversions / arm.sends == pytest.approx(world.rate, abs=4 * (world.rate / arm.sends) ** 0.5)
        assert arm.profit == pytest.approx(arm.conversions * (world.value - world.cost))


def test_conversions_that_have_not_arrived_teach_nothing() -> None:
    """It hides a conversion from the policy until it arrives: with delays of years, Thompson stays even."""
    far = [SimArm(a.name, a.rate, a.value, a.cost, delay_days=10_000.0) for a in SPREAD]
    run = run_policy(far, sends=6000, seed=1, per_day=500)
    assert all(arm.share == pytest.approx(1 / 6, abs=0.03) for arm in run.arms)
    near = run_policy(SPREAD, sends=6000, seed=1, per_day=500)
    assert max(arm.share for arm in near.arms) > 0.4


def test_test_then_commit_sends_everything_to_one_arm_after_its_budget() -> None:
    """It explores evenly for the budget, then sends every later request to the arm it judged best."""
    run = run_policy(SPREAD, sends=8000, seed=2, policy="test_then_commit", explore_sends=2000)
    shares = sorted(arm.sends for arm in run.arms)
    assert shares[-1] >= 6000 + 2000 // 6 - 100
    assert all(count == pytest.approx(2000 / 6, rel=0.25) for count in shares[:-1])
    assert run.holdout_sends == 0


def test_thompson_on_conversion_chases_the_best_converter() -> None:
    """It shows Thompson on conversion alone favouring the arm that converts best, not the most profitable."""
    run = run_policy(SPREAD, sends=8000, seed=3, policy="thompson_conversion")
    shares = {arm.name: arm.share for arm in run.arms}
    assert max(shares, key=shares.__getitem__) == "m3/credit50"


def test_the_delay_correction_beats_the_naive_ways() -> None:
    """It shows the delay-corrected posterior losing less than counting pending sends as failures or
    waiting out a seven-day window, with conversions five days late on average."""
    late = benchmark_world("spread", delay_days=5.0)

    def regret(policy: str) -> float:
        return sum(run_policy(late, sends=10_000, seed=seed, policy=policy).regret for seed in range(4))

    corrected = regret("thompson")
    assert corrected < 0.95 * regret("pending_as_failure")
    assert corrected < 0.8 * regret("fixed_window_7d")


def test_the_holdout_takes_its_share() -> None:
    """It sends about the holdout's share of requests through the uniform holdout."""
    run = run_policy(SPREAD, sends=10_000, seed=4, settings=BanditSettings(holdout=0.2))
    assert run.holdout_sends / run.sends == pytest.approx(0.2, abs=0.015)


def test_unknown_policies_and_worlds_are_refused() -> None:
    """It refuses a policy it does not know, an empty or ambiguous world, and impossible sizes."""
    with pytest.raises(ValueError):
        run_policy(SPREAD, sends=100, seed=1, policy="greedy")
    with pytest.raises(ValueError):
        run_policy([SPREAD[0], SPREAD[0]], sends=100, seed=1)
    with pytest.raises(ValueError):
        run_policy([], sends=100, seed=1)
    with pytest.raises(ValueError):
        run_policy(SPREAD, sends=0, seed=1)
    assert "thompson" in POLICIES


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_in_every_benchmark_world_the_best_converter_is_not_the_most_profitable(name: str) -> None:
    """It defines worlds of three messages by two incentives where converting best is not earning most."""
    world = benchmark_world(name)
    assert len(world) == 6
    best_converter = max(world, key=lambda arm: arm.rate)
    most_profitable = max(world, key=lambda arm: arm.profit)
    assert best_converter.name != most_profitable.name


def test_the_worlds_have_the_rates_the_issue_asks_for() -> None:
    """It spreads rates over 4-13 % and 2-4 %, and makes the best message depend on the incentive in the third."""
    spread = [arm.rate for arm in benchmark_world("spread")]
    low = [arm.rate for arm in benchmark_world("low")]
    assert (min(spread), max(spread)) == (0.04, 0.13)
    assert (min(low), max(low)) == (0.02, 0.04)
    rates = WORLDS["interaction"]
    with_cheap = max(("m1", "m2", "m3"), key=lambda m: rates[(m, "credit10")])
    with_dear = max(("m1", "m2", "m3"), key=lambda m: rates[(m, "credit50")])
    assert with_cheap != with_dear
    assert {arm.delay_days for arm in benchmark_world("low", delay_days=7.0)} == {7.0}


@pytest.mark.parametrize("bad", [{"name": ""}, {"rate": 1.5}, {"rate": -0.1}, {"cost": -1.0}, {"delay_days": -2.0}])
def test_impossible_arms_are_refused(bad: dict[str, object]) -> None:
    """It refuses an arm without a name, with a rate that is no probability, or a negative cost or delay."""
    fields: dict[str, object] = {"name": "a", "rate": 0.1, "value": 100.0, "cost": 10.0, "delay_days": 3.0}
    with pytest.raises(ValueError):
        SimArm(**(fields | bad))  # type: ignore[arg-type]


def test_counting_the_sends_in_flight_loses_less_under_a_long_delay() -> None:
    """It shows Thompson losing less with conversions seven days late on average when it counts the
    sends still in flight than when it explores as if their outcomes were not coming."""
    late = benchmark_world("spread", delay_days=7.0)

    def regret(count_in_flight: bool) -> float:
        settings = BanditSettings(count_in_flight=count_in_flight)
        return sum(run_policy(late, sends=10_000, seed=seed, settings=settings).regret for seed in range(6))

    assert regret(True) < 0.95 * regret(False)


def test_refreshes_within_the_day_learn_within_the_day() -> None:
    """It shows the first day losing less when the posteriors are refreshed eight times in it (as
    detection runs spread over the day) than once: the later refreshes see the earlier outcomes."""
    instant = benchmark_world("spread", delay_days=0.0)

    def first_day(refreshes: int) -> float:
        runs = [run_policy(instant, sends=2000, seed=seed, refreshes_per_day=refreshes) for seed in range(4)]
        return sum(run.regret_by_day[0] for run in runs)

    assert first_day(8) < 0.9 * first_day(1)


def test_one_refresh_a_day_is_the_day_by_day_run() -> None:
    """It runs exactly the day-by-day simulation when asked for one refresh a day, and refuses none."""
    day_by_day = run_policy(SPREAD, sends=3000, seed=5)
    assert run_policy(SPREAD, sends=3000, seed=5, refreshes_per_day=1) == day_by_day
    with pytest.raises(ValueError, match="refreshes_per_day"):
        run_policy(SPREAD, sends=3000, seed=5, refreshes_per_day=0)
