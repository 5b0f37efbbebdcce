"""A synthetic world that runs the real selection code day by day, to see what a policy would earn.

Each day the posteriors are refreshed from what has been observed so far, exactly as a detection
run would (aggregate counts by whole days of age), and that day's sends are picked with the
allocation's own ``pick``. A send converts with its arm's rate; the conversion arrives after an
exponential delay and stays unseen until then. Regret is measured in expected value: per send,
the best arm's expected profit minus the chosen arm's, so it reflects the choices, not the luck
of the draws.

The world's randomness is common to every policy with the same seed (one uniform per send decides
whether it converts, whichever arm is chosen; one exponential per send scales its delay), so two
policies compared on a seed face the same customers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from referral_automation.domain.bandit import (
    Allocation,
    ArmHistory,
    BanditArm,
    BanditSettings,
    Objective,
    posterior_snapshot,
    refresh,
)

#: Oldest age bucket the simulated refresh query keeps (older sends are folded into it).
MAX_AGE_DAYS = 90

#: The policies ``simulate`` knows: the product's own and the baselines the benchmark compares it with.
POLICIES = (
    "thompson",
    "uniform",
    "test_then_commit",
    "thompson_conversion",
    "pending_as_failure",
    "fixed_window_7d",
)


@dataclass(frozen=True, slots=True)
class SimArm:
    """One arm of the synthetic world: its true conversion rate, a conversion's value, the incentive's cost
    per conversion and the mean delay of a conversion in days."""

    name: str
    rate: float
    value: float
    cost: float
    delay_days: float = 3.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("an arm needs a name")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"{self.name}: rate must be a probability, got {self.rate}")
        if self.cost < 0 or self.delay_days < 0:
            raise ValueError(f"{self.name}: cost and delay_days must not be negative")

    @property
    def profit(self) -> float:
        """Expected profit per send."""
        return self.rate * (self.value - self.cost)


@dataclass(frozen=True, slots=True)
class ArmResult:
    name: str
    share: float
    true_rate: float
    sends: int
    #: Conversions the sends earned (also those that arrive after the run ends).
    conversions: int
    #: Realised profit: conversions × (value − cost).
    profit: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "share": self.share,
            "true_rate": self.true_rate,
            "sends": self.sends,
            "conversions": self.conversions,
            "profit": self.profit,
        }


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """One policy's run in one world."""

    policy: str
    sends: int
    #: Expected-value regret against always playing the most profitable arm.
    regret: float
    #: Expected profit of the choices made (what regret is measured from) and the realised profit.
    expected_profit: float
    profit: float
    holdout_sends: int
    arms: tuple[ArmResult, ...]
    #: The regret of each day's sends (where a delay's cost shows: in the first days).
    regret_by_day: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """A policy's run beside ``uniform``'s in the same world with the same seed."""

    run: PolicyRun
    uniform: PolicyRun
    seed: int
    best_arm: str

    def to_json(self) -> dict[str, Any]:
        """What ``referral-automation simulate --json`` prints."""
        return {
            "policy": self.run.policy,
            "sends": self.run.sends,
            "seed": self.seed,
            "best_arm": self.best_arm,
            "regret": self.run.regret,
            "uniform_regret": self.uniform.regret,
            "profit": self.run.profit,
            "uniform_profit": self.uniform.profit,
            "arms": [arm.to_json() for arm in self.run.arms],
            "uniform_arms": [arm.to_json() for arm in self.uniform.arms],
        }


def simulate(
    arms: Sequence[SimArm],
    sends: int,
    seed: int,
    policy: str = "thompson",
    per_day: int = 500,
    objective: Objective = "profit",
    *,
    settings: BanditSettings | None = None,
) -> SimulationResult:
    """``policy``'s run and ``uniform``'s in the world of ``arms``, for ``sends`` sends at ``per_day`` a day."""
    run = run_policy(
        arms, sends=sends, seed=seed, policy=policy, per_day=per_day, objective=objective, settings=settings
    )
    uniform = run_policy(arms, sends=sends, seed=seed, policy="uniform", per_day=per_day)
    return SimulationResult(run, uniform, seed, max(arms, key=lambda a: a.profit).name)


def run_policy(
    arms: Sequence[SimArm],
    *,
    sends: int,
    seed: int,
    policy: str = "thompson",
    per_day: int = 500,
    objective: Objective = "profit",
    settings: BanditSettings | None = None,
    explore_sends: int | None = None,
    refreshes_per_day: int = 1,
) -> PolicyRun:
    """One policy's run. ``settings`` replaces the product's defaults (the baselines change only what
    makes them baselines); ``explore_sends`` is test-then-commit's budget (default a fifth of the sends).
    ``refreshes_per_day`` splits each day's sends between that many refreshes, as detection runs
    spread over the day would (the shipped schedule runs one every 15 minutes); by default the
    posteriors are refreshed once a day."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    if sends < 1 or per_day < 1 or refreshes_per_day < 1:
        raise ValueError("sends, per_day and refreshes_per_day must be positive")
    world = _World(arms, sends, per_day, seed, in_order=refreshes_per_day > 1)
    base = settings or BanditSettings(objective=objective)
    pick_rng, draw_rng = random.Random(seed), np.random.default_rng([seed, 1])
    budget = sends // 5 if explore_sends is None else explore_sends
    committed: BanditSettings | None = None
    holdout_sends = 0
    for now, start, end in _refreshes(sends, per_day, refreshes_per_day):
        histories = world.histories(now=now, upto=start)
        if policy == "test_then_commit":
            if start >= budget and committed is None:
                committed = _commit(world.bandit_arms, histories, base)
            day_settings = committed or replace(base, policy="uniform", holdout=0.0)
        else:
            day_settings = _settings(policy, base)
        allocation = refresh(world.bandit_arms, histories, day_settings, draw_rng)
        holdout_sends += world.record(start, end, allocation, pick_rng)
    return world.result(policy, holdout_sends)


def _refreshes(sends: int, per_day: int, per_refresh_day: int) -> list[tuple[float, int, int]]:
    """(time of the refresh in days, first send, end) of each refresh: the day's sends split evenly."""
    slots = []
    for day in range(math.ceil(sends / per_day)):
        for part in range(per_refresh_day):
            start = min(sends, day * per_day + per_day * part // per_refresh_day)
            end = min(sends, day * per_day + per_day * (part + 1) // per_refresh_day)
            if start < end:
                slots.append((day + part / per_refresh_day, start, end))
    return slots


def _settings(policy: str, base: BanditSettings) -> BanditSettings:
    """The settings that make ``policy`` what it is, on top of the product's."""
    if policy == "uniform":
        return replace(base, policy="uniform", holdout=0.0)
    if policy == "thompson_conversion":
        return replace(base, objective="conversion")
    if policy == "pending_as_failure":
        return replace(base, delay="pending_as_failure", count_in_flight=False)
    if policy == "fixed_window_7d":
        return replace(base, delay="fixed_window", window_days=7, count_in_flight=False)
    return base


def _commit(arms: Sequence[BanditArm], histories: Sequence[ArmHistory], base: BanditSettings) -> BanditSettings:
    """Test-then-commit's decision: all traffic to the arm with the highest estimated profit per send
    (delay-corrected, like the bandit's), no holdout, no floor."""
    snapshot = posterior_snapshot(arms, histories, replace(base, objective="profit"))
    best = max(snapshot.arms, key=lambda p: p.score)
    return replace(base, policy="fixed", fixed_weights={best.arm.key: 1.0}, holdout=0.0, min_share=0.0)


class _World:
    """The world's hidden state: per send, when it was made, which arm, whether and when it converts."""

    def __init__(self, arms: Sequence[SimArm], sends: int, per_day: int, seed: int, *, in_order: bool = False) -> None:
        if len({arm.name for arm in arms}) != len(arms) or not arms:
            raise ValueError("a world needs arms with distinct names")
        self.arms = tuple(arms)
        self.bandit_arms = [BanditArm(arm.name, "", cost=arm.cost) for arm in arms]
        self.rate = np.array([arm.rate for arm in arms])
        self.mean_delay = np.array([arm.delay_days for arm in arms])
        self.value = np.array([arm.value for arm in arms])
        self.profit = np.array([arm.profit for arm in arms])
        rng = np.random.default_rng([seed, 0])
        self.convert_draw = rng.random(sends)
        self.send_time = np.arange(sends) // per_day + rng.random(sends)
        if in_order:  # each day's sends in time order (the days' times do not overlap), for refreshes within it
            self.send_time = np.sort(self.send_time)
        self.delay_draw = rng.exponential(1.0, sends)
        self.chosen = np.zeros(sends, dtype=np.int64)
        self.arrival = np.full(sends, np.inf)

    def record(self, start: int, end: int, allocation: Allocation, rng: random.Random) -> int:
        """Pick the arms of sends ``start:end`` and draw their fate; the number picked by the holdout."""
        pick = allocation.pick
        choices = [pick(rng) for _ in range(end - start)]
        arm = np.array([choice.arm_index for choice in choices], dtype=np.int64)
        self.chosen[start:end] = arm
        converts = self.convert_draw[start:end] < self.rate[arm]
        delay = self.mean_delay[arm] * self.delay_draw[start:end]
        self.arrival[start:end] = np.where(converts, self.send_time[start:end] + delay, np.inf)
        return sum(choice.from_holdout for choice in choices)

    def histories(self, *, now: float, upto: int) -> list[ArmHistory]:
        """What the refresh query would return at ``now`` about the first ``upto`` sends."""
        k, buckets = len(self.arms), MAX_AGE_DAYS + 1
        arm, sent, arrival = self.chosen[:upto], self.send_time[:upto], self.arrival[:upto]
        cell = arm * buckets + np.clip(np.floor(now - sent), 0, MAX_AGE_DAYS).astype(np.int64)
        seen = arrival <= now
        sends = np.bincount(cell, minlength=k * buckets).reshape(k, buckets)
        outcomes = np.bincount(cell[seen], minlength=k * buckets).reshape(k, buckets)
        delays = np.bincount(arm[seen], weights=(arrival - sent)[seen], minlength=k)
        values = np.bincount(arm[seen], weights=self.value[arm[seen]], minlength=k)
        return [
            ArmHistory(bandit.key, tuple(sends[i].tolist()), tuple(outcomes[i].tolist()), delays[i], values[i])
            for i, bandit in enumerate(self.bandit_arms)
        ]

    def result(self, policy: str, holdout_sends: int) -> PolicyRun:
        k, total = len(self.arms), self.chosen.size
        sends = np.bincount(self.chosen, minlength=k)
        conversions = np.bincount(self.chosen, weights=np.isfinite(self.arrival), minlength=k).astype(np.int64)
        expected = float(self.profit[self.chosen].sum())
        arms = tuple(
            ArmResult(
                name=arm.name,
                share=float(sends[i] / total),
                true_rate=arm.rate,
                sends=int(sends[i]),
                conversions=int(conversions[i]),
                profit=float(conversions[i] * (arm.value - arm.cost)),
            )
            for i, arm in enumerate(self.arms)
        )
        lost = self.profit.max() - self.profit[self.chosen]
        daily = np.bincount(self.send_time.astype(np.int64), weights=lost)
        regret = float(self.profit.max() * total - expected)
        realised = sum(a.profit for a in arms)
        return PolicyRun(policy, total, regret, expected, realised, holdout_sends, arms, tuple(daily.tolist()))


def benchmark_world(name: str, *, delay_days: float = 3.0) -> list[SimArm]:
    """One of the benchmark's worlds: three messages × two incentives (``credit10`` costs 10 per
    conversion, ``credit50`` costs 50 and converts better), every conversion worth 100. In each, the arm
    that converts best is not the most profitable one.

    - ``spread``: rates from 4 to 13 %;
    - ``low``: rates from 2 to 4 %;
    - ``interaction``: the best message with one incentive is not the best with the other.
    """
    rates = WORLDS[name]
    return [
        SimArm(f"{message}/{incentive}", rate, 100.0, INCENTIVE_COSTS[incentive], delay_days)
        for (message, incentive), rate in rates.items()
    ]


INCENTIVE_COSTS = {"credit10": 10.0, "credit50": 50.0}
#: The benchmark's worlds: the true conversion rate of each (message, incentive).
WORLDS: dict[str, dict[tuple[str, str], float]] = {
    "spread": {
        ("m1", "credit10"): 0.04,
        ("m2", "credit10"): 0.06,
        ("m3", "credit10"): 0.09,
        ("m1", "credit50"): 0.06,
        ("m2", "credit50"): 0.09,
        ("m3", "credit50"): 0.13,
    },
    "low": {
        ("m1", "credit10"): 0.020,
        ("m2", "credit10"): 0.025,
        ("m3", "credit10"): 0.030,
        ("m1", "credit50"): 0.027,
        ("m2", "credit50"): 0.033,
        ("m3", "credit50"): 0.040,
    },
    "interaction": {
        ("m1", "credit10"): 0.09,
        ("m2", "credit10"): 0.05,
        ("m3", "credit10"): 0.06,
        ("m1", "credit50"): 0.07,
        ("m2", "credit50"): 0.13,
        ("m3", "credit50"): 0.08,
    },
}
