"""The bandit's values: arms, the settings of a campaign's test, and the recorded history of each arm.

The history is aggregate counts by whole days of age, so a database can produce it with one
``GROUP BY`` and the posterior never needs the individual sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

#: What the campaign optimises. ``profit`` counts conversions weighted by value minus the incentive's cost.
Objective = Literal["reply", "referral", "conversion", "profit"]
#: How the allocation is chosen: probability matching, an even split, or an operator's weights.
PolicyName = Literal["thompson", "uniform", "fixed"]
#: How sends whose outcome may still be on its way are counted. Only ``delay_corrected`` is meant for
#: production; the other two are the naive ways, kept so the simulator can measure what the correction buys.
DelayHandling = Literal["delay_corrected", "pending_as_failure", "fixed_window"]

OBJECTIVES: tuple[Objective, ...] = ("reply", "referral", "conversion", "profit")
POLICIES: tuple[PolicyName, ...] = ("thompson", "uniform", "fixed")


class ArmKey(NamedTuple):
    """An arm's identity: a message variant and an incentive of one campaign (a plain tuple for SQL rows)."""

    variant: str
    incentive: str


@dataclass(frozen=True, slots=True)
class BanditArm:
    """An arm of the test as configured: which combination runs, whether it is paused, what it pays."""

    variant: str
    incentive: str
    paused: bool = False
    #: The incentive's cost per conversion (config's ``Incentive.cost``): profit subtracts it.
    cost: float = 0.0

    @property
    def key(self) -> ArmKey:
        return ArmKey(self.variant, self.incentive)


@dataclass(frozen=True, slots=True)
class ArmHistory:
    """What has been recorded for one arm, bucketed by the age of each send in whole days.

    ``sends_by_age[d]`` counts the sends made between ``d`` and ``d + 1`` days ago; the last bucket
    also holds every older send. ``outcomes_by_age[d]`` counts the outcomes (of the campaign's
    objective: replies, referrals or conversions) seen so far for the sends of bucket ``d``: the
    age of the send, not of the outcome, because what matters is how long each send has had.
    """

    arm: ArmKey
    sends_by_age: tuple[int, ...]
    outcomes_by_age: tuple[int, ...] = ()
    #: The sum over the seen outcomes of (outcome time - send time), in days.
    delay_days_sum: float = 0.0
    #: The sum of the recorded values of the seen conversions.
    value_sum: float = 0.0

    @property
    def sends(self) -> int:
        return sum(self.sends_by_age)

    @property
    def outcomes(self) -> int:
        return sum(self.outcomes_by_age)


class AgeRow(NamedTuple):
    """One row of the refresh query: an arm's sends of one whole day of age and their outcomes so far."""

    variant: str
    incentive: str
    age_days: int
    sends: int
    outcomes: int = 0
    delay_days_sum: float = 0.0
    value_sum: float = 0.0


def histories_from_rows(rows: Iterable[AgeRow], *, max_age_days: int = 90) -> list[ArmHistory]:
    """Arm histories from the refresh query's rows, ages beyond ``max_age_days`` folded into its bucket.

    A negative age (a clock a little ahead of the database's) counts as today. Rows of one arm and
    age may repeat: they are added up.
    """
    buckets = max_age_days + 1
    sends: dict[ArmKey, list[int]] = {}
    outcomes: dict[ArmKey, list[int]] = {}
    delays: dict[ArmKey, float] = {}
    values: dict[ArmKey, float] = {}
    for row in rows:
        key = ArmKey(row.variant, row.incentive)
        if key not in sends:
            sends[key], outcomes[key], delays[key], values[key] = [0] * buckets, [0] * buckets, 0.0, 0.0
        age = min(max(int(row.age_days), 0), max_age_days)
        sends[key][age] += int(row.sends)
        outcomes[key][age] += int(row.outcomes)
        delays[key] += float(row.delay_days_sum)
        values[key] += float(row.value_sum)
    return [ArmHistory(key, tuple(sends[key]), tuple(outcomes[key]), delays[key], values[key]) for key in sends]


@dataclass(frozen=True, slots=True)
class BanditSettings:
    """A campaign's test: policy, objective, and the knobs of exploration, priors and delay.

    The defaults are the ones the simulator's benchmark was tuned with (benchmarks/bandit.py).
    """

    policy: PolicyName = "thompson"
    objective: Objective = "profit"
    #: For ``fixed``: weight per arm (any scale; arms not named get none).
    fixed_weights: Mapping[ArmKey, float] = field(default_factory=dict)
    #: Share of every choice drawn uniformly among unpaused arms, so the policy's lift can be measured.
    holdout: float = 0.05
    #: Each unpaused arm gets at least this share of the picks, its holdout picks included, while it has
    #: fewer than ``min_settled`` settled sends (whatever the policy: a ``fixed`` weight of zero still
    #: explores a new arm until it has settled).
    min_share: float = 0.02
    min_settled: float = 100.0
    #: The Beta prior of every arm's rate: ``prior_sends`` pseudo-sends at the campaign's pooled rate
    #: (``prior_rate`` before anything has settled), so one arm's luck early on is not taken at face
    #: value. None estimates it from how much the arms differ, within [min_prior_sends, max_prior_sends].
    prior_sends: float | None = None
    min_prior_sends: float = 2.0
    max_prior_sends: float = 1000.0
    prior_rate: float = 0.05
    #: A conversion's value before an arm has its own: this many pseudo-conversions at the campaign's
    #: mean value, or at ``default_value`` before any conversion is recorded.
    value_prior_conversions: float = 5.0
    default_value: float | None = None
    #: Monte Carlo draws from the posteriors for the probability of being best.
    draws: int = 10_000
    #: Whether the allocation counts the sends whose outcome is still on its way as if it had arrived
    #: at the arm's current mean (``allocation.probability_best``); the report's figures never do.
    count_in_flight: bool = True
    delay: DelayHandling = "delay_corrected"
    #: For ``fixed_window``: a send counts only once it is this many days old.
    window_days: int = 7
    #: The delay's prior: this many pseudo-outcomes arriving after ``prior_delay_days`` on average.
    prior_delay_days: float = 3.0
    delay_prior_outcomes: float = 2.0

    def __post_init__(self) -> None:
        _check(self.policy in POLICIES, f"unknown policy {self.policy!r}")
        _check(self.objective in OBJECTIVES, f"unknown objective {self.objective!r}")
        _check(0.0 <= self.holdout < 1.0, "holdout must be in [0, 1)")
        _check(0.0 <= self.min_share <= 1.0, "min_share must be in [0, 1]")
        _check(self.min_settled >= 0, "min_settled must not be negative")
        _check(0.0 < self.prior_rate < 1.0, "prior_rate must be in (0, 1)")
        _check(0 < self.min_prior_sends <= self.max_prior_sends, "prior sends need 0 < min <= max")
        _check(self.prior_sends is None or self.prior_sends > 0, "prior_sends must be positive")
        _check(self.value_prior_conversions > 0, "value_prior_conversions must be positive")
        _check(self.draws >= 100, "draws must be at least 100")
        _check(self.window_days >= 0, "window_days must not be negative")
        _check(self.prior_delay_days > 0 and self.delay_prior_outcomes > 0, "the delay prior must be positive")
        _check(all(w >= 0 for w in self.fixed_weights.values()), "fixed weights must not be negative")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
