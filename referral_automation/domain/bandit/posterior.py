"""Each arm's posterior: a Beta over its outcome rate from effective sends, and the worth of an outcome.

The rate's posterior is Beta(prior + outcomes, prior + effective sends - outcomes), where effective
sends weight each send by the chance its outcome would have arrived by now (delay.py): a send still
waiting is neither a success nor a failure, only part of one.

For the ``profit`` objective an outcome is a conversion worth its value minus the incentive's cost.
The value per conversion is estimated per arm from the recorded values, shrunk towards the
campaign's mean: an arm with one lucky large order does not win on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from referral_automation.domain.bandit.delay import DelayModel, counting_weights
from referral_automation.domain.bandit.model import ArmHistory, ArmKey, BanditArm, BanditSettings

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ArmPosterior:
    """What is believed about one arm after the recorded history."""

    arm: BanditArm
    sends: int
    #: Outcomes seen so far (all of them, also those a fixed window would not count yet).
    outcomes: int
    #: Sends weighted by the chance their outcome is in: the exploration floor's "settled sends".
    settled_sends: float
    #: The rest of the sends' weight: outcomes that may still arrive (sends - settled sends).
    in_flight: float
    alpha: float
    beta: float
    #: Estimated value of one conversion (None until any value is known, in config or recorded).
    value: float | None
    #: What one outcome is worth to the objective: value - cost for profit, 1 otherwise.
    margin: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def score(self) -> float:
        """The objective's expected worth of one send to this arm."""
        return self.mean * self.margin


@dataclass(frozen=True, slots=True)
class PosteriorSnapshot:
    """Every arm's posterior at one refresh, in the order of the configured arms."""

    arms: tuple[ArmPosterior, ...]
    settings: BanditSettings
    #: The estimated delay (None when the settings do not correct for it).
    delay: DelayModel | None

    def fingerprint(self) -> str:
        """A short hash of the settings and the posterior: equal snapshots, equal fingerprints."""
        parts = [repr(self.settings), repr(self.delay and round(self.delay.mean_days, 9))]
        parts += [
            f"{p.arm.variant}|{p.arm.incentive}|{p.arm.paused}|{p.arm.cost!r}|{p.alpha:.9g}|{p.beta:.9g}|{p.margin:.9g}"
            f"|{p.in_flight:.9g}"
            for p in self.arms
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def seed(self) -> int:
        """A seed derived from the snapshot, so every worker refreshing the same data draws the same allocation."""
        return int(self.fingerprint(), 16)


def posterior_snapshot(
    arms: Sequence[BanditArm], histories: Iterable[ArmHistory], settings: BanditSettings
) -> PosteriorSnapshot:
    """The posteriors of ``arms`` from their recorded histories (an arm without one has recorded nothing;
    histories of arms no longer configured are ignored)."""
    if not arms:
        raise ValueError("a bandit needs at least one arm")
    if len({arm.key for arm in arms}) != len(arms):
        raise ValueError("arms must be distinct (variant, incentive) pairs")
    sends, outcomes, delay_sums, value_sums = _matrices(arms, histories)
    delay, send_weights, outcome_weights = counting_weights(settings, outcomes.sum(axis=0), float(delay_sums.sum()))
    settled = sends @ send_weights
    counted = np.minimum(outcomes @ outcome_weights, settled)
    pooled = (float(counted.sum()) + settings.prior_rate * settings.min_prior_sends) / (
        float(settled.sum()) + settings.min_prior_sends
    )
    strength = prior_strength(counted, settled, pooled, settings)
    alpha = strength * pooled + counted
    beta = strength * (1.0 - pooled) + (settled - counted)
    seen = outcomes.sum(axis=1)
    values = _values(seen, value_sums, settings)
    posteriors = tuple(
        ArmPosterior(
            arm=arm,
            sends=int(sends[k].sum()),
            outcomes=int(seen[k]),
            settled_sends=float(settled[k]),
            in_flight=max(float(sends[k].sum() - settled[k]), 0.0),
            alpha=float(alpha[k]),
            beta=float(beta[k]),
            value=values[k],
            margin=_margin(values[k], arm.cost, settings),
        )
        for k, arm in enumerate(arms)
    )
    return PosteriorSnapshot(posteriors, settings, delay)


def prior_strength(counted: FloatArray, settled: FloatArray, pooled: float, settings: BanditSettings) -> float:
    """How many pseudo-sends at the pooled rate each arm's prior is worth.

    Unless configured, estimated from how much the arms' rates differ beyond what sampling alone
    would give (the method of moments of a beta-binomial model): arms that look alike are pooled
    strongly, so the noise of a few conversions does not send traffic chasing it; arms that clearly
    differ keep their own evidence. The estimate is kept within the configured bounds, the upper one
    so that an arm's own sends outweigh the prior within a test's length.
    """
    if settings.prior_sends is not None:
        return settings.prior_sends
    low, high = settings.min_prior_sends, settings.max_prior_sends
    active = settled > 0
    total = float(settled.sum())
    arms = int(active.sum())
    if arms < 2 or total <= 0:
        return high
    sends = settled[active]
    between = float(sends @ (counted[active] / sends - pooled) ** 2) - (arms - 1) * pooled * (1.0 - pooled)
    spread = total - float(sends @ sends) / total
    if between <= 0 or spread <= 0:
        return high
    return min(max(pooled * (1.0 - pooled) / (between / spread) - 1.0, low), high)


def _matrices(
    arms: Sequence[BanditArm], histories: Iterable[ArmHistory]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Sends and outcomes as (arm × age bucket) matrices, delay and value sums per arm."""
    index = {arm.key: k for k, arm in enumerate(arms)}
    known = [h for h in histories if ArmKey(*h.arm) in index]
    buckets = max([1, *(len(h.sends_by_age) for h in known), *(len(h.outcomes_by_age) for h in known)])
    sends = np.zeros((len(arms), buckets))
    outcomes = np.zeros((len(arms), buckets))
    delay_sums = np.zeros(len(arms))
    value_sums = np.zeros(len(arms))
    for history in known:
        k = index[ArmKey(*history.arm)]
        sends[k, : len(history.sends_by_age)] += history.sends_by_age
        outcomes[k, : len(history.outcomes_by_age)] += history.outcomes_by_age
        delay_sums[k] += history.delay_days_sum
        value_sums[k] += history.value_sum
    return sends, outcomes, delay_sums, value_sums


def _values(seen: FloatArray, value_sums: FloatArray, settings: BanditSettings) -> list[float | None]:
    """Each arm's value per conversion, shrunk towards the campaign's mean (or the configured default)."""
    if settings.objective not in ("conversion", "profit"):
        return [None] * seen.size
    total = float(seen.sum())
    prior = float(value_sums.sum()) / total if total > 0 else settings.default_value
    if prior is None:
        return [None] * seen.size
    strength = settings.value_prior_conversions
    return [float((strength * prior + value_sums[k]) / (strength + seen[k])) for k in range(seen.size)]


def _margin(value: float | None, cost: float, settings: BanditSettings) -> float:
    """What one outcome is worth to the objective. Profit without any known value cannot be told from
    conversion, so it ranks by conversion until a value is recorded or configured."""
    if settings.objective != "profit" or value is None:
        return 1.0
    return value - cost
