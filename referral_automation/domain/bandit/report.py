"""What the report shows of a test: per-arm posteriors, off-policy estimates and an allocation check.

Inverse propensity weighting (IPW) estimates what another policy would have earned on the logged
choices, because each choice stored the probability its arm had. The sample-ratio-mismatch check
compares how often each arm was actually chosen with the sum of the logged probabilities: a gap
means choices are being lost, duplicated or made outside the logged model, and every estimate
built on the logs is suspect until it is explained.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from referral_automation.domain.bandit.allocation import Allocation
from referral_automation.domain.bandit.model import ArmKey, BanditArm
from referral_automation.domain.bandit.special import beta_ppf, chi2_sf

#: Below this p-value the allocation is reported as mismatched (a strict level: the check runs often).
SRM_ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm's line in the report."""

    arm: BanditArm
    sends: int
    outcomes: int
    settled_sends: float
    #: The posterior mean of the outcome rate and its equal-tailed credible interval.
    mean: float
    low: float
    high: float
    p_best: float
    #: The probability of being chosen now (policy, floor and holdout together).
    propensity: float
    value_per_conversion: float | None
    #: Expected (value - cost) per send, when outcomes are conversions and a value is known.
    expected_profit_per_send: float | None


def summarize(allocation: Allocation, *, level: float = 0.95) -> list[ArmSummary]:
    """The report's line for every arm of ``allocation``, in the configured order."""
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    tail = (1.0 - level) / 2.0
    conversions = allocation.snapshot.settings.objective in ("conversion", "profit")
    lines = []
    for k, posterior in enumerate(allocation.snapshot.arms):
        value = posterior.value
        profit = posterior.mean * (value - posterior.arm.cost) if conversions and value is not None else None
        lines.append(
            ArmSummary(
                arm=posterior.arm,
                sends=posterior.sends,
                outcomes=posterior.outcomes,
                settled_sends=posterior.settled_sends,
                mean=posterior.mean,
                low=beta_ppf(tail, posterior.alpha, posterior.beta),
                high=beta_ppf(1.0 - tail, posterior.alpha, posterior.beta),
                p_best=allocation.p_best[k],
                propensity=allocation.propensities[k],
                value_per_conversion=value,
                expected_profit_per_send=profit,
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class LoggedOutcome:
    """One logged choice: the arm, the probability it had, and the reward it earned (e.g. value - cost)."""

    arm: ArmKey
    propensity: float
    reward: float


@dataclass(frozen=True, slots=True)
class IpwTotals:
    """Per arm, the sums IPW needs: what ``SUM(reward / propensity)`` and friends give grouped by arm."""

    arm: ArmKey
    choices: int
    weighted_reward: float
    weighted_reward_squares: float
    inverse_propensity: float


def ipw_totals(logs: Iterable[LoggedOutcome]) -> list[IpwTotals]:
    """The per-arm sums of logged choices (the database can produce the same with one GROUP BY)."""
    sums: dict[ArmKey, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for log in logs:
        if not 0.0 < log.propensity <= 1.0:
            raise ValueError(f"a logged propensity must be in (0, 1], got {log.propensity}")
        weighted = log.reward / log.propensity
        row = sums[ArmKey(*log.arm)]
        row[0] += 1
        row[1] += weighted
        row[2] += weighted * weighted
        row[3] += 1.0 / log.propensity
    return [IpwTotals(arm, int(s[0]), s[1], s[2], s[3]) for arm, s in sums.items()]


@dataclass(frozen=True, slots=True)
class IpwEstimate:
    """A policy's estimated reward per send on the logged choices."""

    #: The plain IPW estimate (unbiased when every propensity is right and positive where the target plays).
    value: float
    stderr: float
    #: The self-normalised estimate: a little biased, much steadier when propensities are small.
    self_normalized: float
    choices: int


def ipw_estimate(totals: Sequence[IpwTotals], target: Mapping[ArmKey, float]) -> IpwEstimate:
    """What a stationary policy playing arm ``a`` with probability ``target[a]`` would earn per send.

    Only choices whose rewards are settled should be given: a reward still on its way counts as none.
    For one arm's own value, pass ``{arm: 1.0}``.
    """
    n = sum(t.choices for t in totals)
    if n == 0:
        return IpwEstimate(0.0, math.inf, 0.0, 0)
    weight = {ArmKey(*arm): p for arm, p in target.items()}
    mean = sum(weight.get(t.arm, 0.0) * t.weighted_reward for t in totals) / n
    squares = sum(weight.get(t.arm, 0.0) ** 2 * t.weighted_reward_squares for t in totals) / n
    mass = sum(weight.get(t.arm, 0.0) * t.inverse_propensity for t in totals)
    normalized = sum(weight.get(t.arm, 0.0) * t.weighted_reward for t in totals) / mass if mass > 0 else 0.0
    return IpwEstimate(mean, math.sqrt(max(squares - mean * mean, 0.0) / n), normalized, n)


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    statistic: float
    df: int
    p_value: float
    #: True when the p-value is below the threshold: the observed split is not what was logged.
    mismatch: bool


def sample_ratio_mismatch(
    observed: Mapping[ArmKey, int], expected: Mapping[ArmKey, float], *, alpha: float = SRM_ALPHA
) -> SampleRatioCheck:
    """Chi-square goodness of fit of the arms' observed choice counts against the sums of their
    logged probabilities over the same choices (scaled to the same total)."""
    arms = set(observed) | set(expected)
    total_observed = sum(observed.values())
    total_expected = sum(expected.values())
    if total_observed == 0 or total_expected <= 0:
        return SampleRatioCheck(0.0, 0, 1.0, False)
    scale = total_observed / total_expected
    statistic, cells = 0.0, 0
    for arm in arms:
        seen, due = observed.get(arm, 0), expected.get(arm, 0.0) * scale
        if due <= 0:
            if seen > 0:  # chosen although it could not be: as strong a mismatch as there is
                return SampleRatioCheck(math.inf, max(len(arms) - 1, 1), 0.0, True)
            continue
        statistic += (seen - due) ** 2 / due
        cells += 1
    if cells < 2:
        return SampleRatioCheck(statistic, 0, 1.0, False)
    p_value = chi2_sf(statistic, cells - 1)
    return SampleRatioCheck(statistic, cells - 1, p_value, p_value < alpha)
