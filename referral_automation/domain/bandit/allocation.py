"""From posteriors to an allocation, and picking an arm from it.

Thompson sampling per send would draw from every posterior at every pick. Probability matching
does the same in expectation once per refresh: the probability that each arm is the best is
estimated by vectorised Monte Carlo draws, and picks between refreshes only sample that fixed
distribution. A pick is then one uniform number and an alias-table lookup, whatever the number of
arms, and every choice can carry the exact probability it had, which off-policy evaluation needs.

Under delay, Thompson sampling would keep exploring while the answers to its exploration are
already on their way: an arm with a thousand sends of which half are too young to have converted
looks as uncertain as one with five hundred. So the posterior ``thompson`` samples counts the
sends still in flight as if their outcomes had arrived at the arm's current mean: its mean is
unchanged and its spread is what it will be once they arrive (the "hallucinated observations" of
Desautels, Krause and Burdick, "Parallelizing exploration-exploitation tradeoffs in Gaussian process
bandit optimization", JMLR 2014). Without delay nothing is in flight at a refresh and nothing
changes; with one, the regret falls at every delay, most at the longest (benchmarks/HISTORY.md).
The reported probability of being best is the plain posterior's, estimated separately.

On top of the policy's probabilities, in this order: paused arms get nothing; an arm with fewer
settled sends than ``min_settled`` gets at least ``min_share`` of all picks (so no arm is written
off on a few unlucky days), its holdout picks included; and a ``holdout`` share is spread evenly
over the unpaused arms, so the bandit's own lift can be measured against a uniform split.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from referral_automation.domain.bandit.model import ArmHistory, BanditArm, BanditSettings
from referral_automation.domain.bandit.posterior import PosteriorSnapshot, posterior_snapshot

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
#: Draws per chunk, bounding memory at (chunk × arms) floats whatever ``draws`` is.
_CHUNK = 2_000


class Choice(NamedTuple):
    """An arm chosen for one request, with what off-policy evaluation needs to reuse the choice."""

    arm: BanditArm
    #: The arm's position in ``propensities`` (the configured order).
    arm_index: int
    #: The probability every arm had of being chosen, in the configured order (paused arms: 0).
    propensities: tuple[float, ...]
    model_version: str
    #: Whether the choice came from the uniform holdout rather than the policy.
    from_holdout: bool

    @property
    def propensity(self) -> float:
        return self.propensities[self.arm_index]


@dataclass(frozen=True, slots=True)
class Allocation:
    """The probabilities of one refresh and a sampler over them."""

    snapshot: PosteriorSnapshot
    #: The Monte Carlo estimate of each arm's probability of being the best (paused arms: 0), from
    #: the posterior of the outcomes in (what the report shows; the policy may count sends in flight).
    p_best: tuple[float, ...]
    #: The policy's share after the floor, before the holdout.
    policy_shares: tuple[float, ...]
    #: The probability of each arm per pick: ``(1 - holdout) * policy_shares + holdout / unpaused``.
    propensities: tuple[float, ...]
    version: str
    _arms: tuple[BanditArm, ...]
    _holdout: float
    _unpaused: tuple[int, ...]
    _threshold: tuple[float, ...]
    _alias: tuple[int, ...]

    @property
    def arms(self) -> tuple[BanditArm, ...]:
        return self._arms

    def pick(self, rng: random.Random) -> Choice:
        """One arm, by one uniform draw: below ``holdout`` an even pick among unpaused arms, else the
        policy's share through the alias table."""
        u = rng.random()
        holdout = self._holdout
        if u < holdout:
            unpaused = self._unpaused
            i = unpaused[min(int(u / holdout * len(unpaused)), len(unpaused) - 1)]
            return Choice(self._arms[i], i, self.propensities, self.version, True)
        n = len(self._threshold)
        x = (u - holdout) / (1.0 - holdout) * n
        j = min(int(x), n - 1)
        i = j if x - j < self._threshold[j] else self._alias[j]
        return Choice(self._arms[i], i, self.propensities, self.version, False)


def allocate(snapshot: PosteriorSnapshot, rng: np.random.Generator) -> Allocation:
    """The allocation of a refresh. ``rng`` drives the Monte Carlo estimate; seed it with
    ``snapshot.seed()`` for every worker to agree on the same data."""
    settings = snapshot.settings
    unpaused = np.array([not p.arm.paused for p in snapshot.arms])
    if not unpaused.any():
        raise ValueError("every arm is paused: nothing to choose from")
    p_best = probability_best(snapshot, unpaused, settings.draws, rng)
    shares = policy_probabilities(snapshot, unpaused, _driving(snapshot, unpaused, p_best, rng))
    unsettled = unpaused & (np.array([p.settled_sends for p in snapshot.arms]) < settings.min_settled)
    shares = with_floor(shares, unsettled, _policy_floor(settings, int(unpaused.sum())))
    propensities = (1.0 - settings.holdout) * shares + settings.holdout * unpaused / unpaused.sum()
    threshold, alias = alias_table(shares)
    return Allocation(
        snapshot=snapshot,
        p_best=tuple(p_best.tolist()),
        policy_shares=tuple(shares.tolist()),
        propensities=tuple(propensities.tolist()),
        version=model_version(snapshot, propensities),
        _arms=tuple(p.arm for p in snapshot.arms),
        _holdout=settings.holdout,
        _unpaused=tuple(np.flatnonzero(unpaused).tolist()),
        _threshold=threshold,
        _alias=alias,
    )


def _driving(
    snapshot: PosteriorSnapshot, unpaused: BoolArray, p_best: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """The probabilities ``thompson`` allocates by: counting the sends in flight when the settings say
    so, else (or with less than one send's outcome in flight in all) the plain ``p_best``."""
    settings = snapshot.settings
    if settings.policy != "thompson" or not settings.count_in_flight:
        return p_best
    if sum(p.in_flight for p in snapshot.arms) < 1.0:
        return p_best
    return probability_best(snapshot, unpaused, settings.draws, rng, in_flight=True)


def probability_best(
    snapshot: PosteriorSnapshot, candidates: BoolArray, draws: int, rng: np.random.Generator, *, in_flight: bool = False
) -> FloatArray:
    """Each candidate's share of ``draws`` joint posterior draws in which its worth per send is highest.
    ``in_flight`` draws from the posteriors as they will be once the sends in flight have their
    outcomes, at the current means: Beta(m n', (1 - m) n') with n' = alpha + beta + in flight."""
    index = np.flatnonzero(candidates)
    arms = [snapshot.arms[k] for k in index]
    alpha = np.array([p.alpha for p in arms])
    beta = np.array([p.beta for p in arms])
    if in_flight:
        scale = 1.0 + np.array([p.in_flight for p in arms]) / (alpha + beta)
        alpha, beta = alpha * scale, beta * scale
    margin = np.array([p.margin for p in arms])
    wins = np.zeros(index.size, dtype=np.int64)
    for start in range(0, draws, _CHUNK):
        worth = rng.beta(alpha, beta, size=(min(_CHUNK, draws - start), index.size)) * margin
        wins += np.bincount(_best_of_each_draw(worth, rng), minlength=index.size)
    p_best = np.zeros(len(snapshot.arms))
    p_best[index] = wins / draws
    return p_best


def _best_of_each_draw(worth: FloatArray, rng: np.random.Generator) -> NDArray[np.intp]:
    """The column of each row's maximum, exact ties broken at random (arms worth nothing, when a
    conversion's value equals the incentive's cost, tie in every draw; argmax would favour the first)."""
    ties = worth == worth.max(axis=1, keepdims=True)
    if int(ties.sum()) == worth.shape[0]:
        return np.asarray(worth.argmax(axis=1))
    return np.asarray(np.where(ties, rng.random(worth.shape), -1.0).argmax(axis=1))


def policy_probabilities(snapshot: PosteriorSnapshot, unpaused: BoolArray, p_best: FloatArray) -> FloatArray:
    """The policy's own probabilities over the unpaused arms, before the floor and the holdout.
    ``fixed`` weights that leave every unpaused arm at zero fall back to an even split."""
    settings = snapshot.settings
    if settings.policy == "thompson":
        return p_best
    if settings.policy == "fixed":
        weights = np.array([settings.fixed_weights.get(p.arm.key, 0.0) for p in snapshot.arms]) * unpaused
        if weights.sum() > 0:
            return np.asarray(weights / weights.sum(), dtype=np.float64)
    return np.asarray(unpaused / unpaused.sum(), dtype=np.float64)


def with_floor(shares: FloatArray, unsettled: BoolArray, min_share: float) -> FloatArray:
    """Shares where every unsettled arm has at least ``min_share``: the floors first, the rest of the
    mass split as the policy said. When the floors alone would exceed everything, the unsettled arms
    share it evenly."""
    floors = unsettled * min_share
    total = float(floors.sum())
    if total >= 1.0:
        return np.asarray(unsettled / unsettled.sum(), dtype=np.float64)
    return np.asarray(floors + (1.0 - total) * shares, dtype=np.float64)


def _policy_floor(settings: BanditSettings, unpaused: int) -> float:
    """The floor of an unsettled arm's policy share that gives it ``min_share`` of every pick: the
    holdout's even split already gives it ``holdout / unpaused`` of them."""
    return max(0.0, (settings.min_share - settings.holdout / unpaused) / (1.0 - settings.holdout))


def alias_table(shares: FloatArray) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Vose's alias table: column ``j`` is taken with probability ``threshold[j]``, else ``alias[j]``."""
    n = shares.size
    scaled = (shares / shares.sum() * n).tolist()
    threshold, alias = [1.0] * n, list(range(n))
    small = [j for j, s in enumerate(scaled) if s < 1.0]
    large = [j for j, s in enumerate(scaled) if s >= 1.0]
    while small and large:
        j, big = small.pop(), large.pop()
        threshold[j], alias[j] = scaled[j], big
        scaled[big] -= 1.0 - scaled[j]
        (small if scaled[big] < 1.0 else large).append(big)
    return tuple(threshold), tuple(alias)


def model_version(snapshot: PosteriorSnapshot, propensities: FloatArray) -> str:
    """The settings, the posterior and the resulting probabilities, hashed: a logged choice names the
    exact model that made it."""
    text = snapshot.fingerprint() + "|" + ",".join(f"{p:.12g}" for p in propensities.tolist())
    return "bandit-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def refresh(
    arms: Sequence[BanditArm],
    histories: Iterable[ArmHistory],
    settings: BanditSettings,
    rng: np.random.Generator | None = None,
) -> Allocation:
    """Posteriors from the recorded histories and the allocation they give: one call per detection run.

    Without ``rng`` the Monte Carlo draws are seeded from the snapshot itself, so two workers
    refreshing from the same data get the same allocation and the same model version.
    """
    snapshot = posterior_snapshot(arms, histories, settings)
    return allocate(snapshot, rng if rng is not None else np.random.default_rng(snapshot.seed()))
