"""The delay between a send and its outcome, and how much of a send's outcome has had time to arrive.

Conversions come days after the send. Counting every send without an outcome yet as a failure
makes the arms played most recently look worst; waiting out a fixed window throws away the most
recent evidence. Instead each send counts as the probability that its outcome, if it has one,
would have arrived by now (Vernade, Cappé and Perchet, "Stochastic bandit models for delayed
conversions", UAI 2017): effective sends = sum over sends of the delay's CDF at the send's age.

The delay is modelled as exponential and estimated from the outcomes seen so far:

- Only outcomes carry information about the delay. The sends still without one are mostly sends
  that never will have one, so treating them as censored delays (a Kaplan-Meier estimate over
  sends) would read every non-converter as an endless delay.
- An outcome of a young send can only have been seen if it came quickly, so the seen delays are
  right-truncated at their send's age. The estimate conditions each delay on having arrived within
  that age, which removes the bias towards short delays early in a test.
- One parameter is stable from the first few outcomes, where a nonparametric estimate of a
  truncated distribution is erratic in its tail; a few prior pseudo-outcomes keep it sensible
  before any arrive. The price: a tail heavier than exponential is underestimated.

Its sufficient statistics are the count of seen outcomes per send-age bucket and the sum of their
delays, both aggregates a database produces directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from referral_automation.domain.bandit.model import BanditSettings

#: The estimate's range in days: from about a minute (outcomes seen the moment they happen) to decades.
MIN_MEAN_DAYS = 1e-3
MAX_MEAN_DAYS = 1e4
_BISECTIONS = 60

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DelayModel:
    """An exponential delay between a send and its outcome."""

    mean_days: float

    def observed_share(self, buckets: int) -> FloatArray:
        """Per age bucket ``d`` (sends ``d`` to ``d + 1`` days old, ages spread evenly), the chance that
        an outcome would have arrived by now: the delay's CDF averaged over the bucket."""
        mean = self.mean_days
        ages = np.arange(buckets, dtype=np.float64)
        share: FloatArray = 1.0 - mean * np.exp(-ages / mean) * -np.expm1(-1.0 / mean)
        return share


def truncated_mean(mean_days: float, limits: FloatArray) -> FloatArray:
    """The mean of an exponential delay of ``mean_days`` given that it is at most ``limit``, per limit."""
    ratio = np.minimum(limits / mean_days, 700.0)  # beyond, exp overflows and the correction is zero anyway
    return np.asarray(mean_days - limits / np.expm1(ratio), dtype=np.float64)


def estimate_delay(
    outcomes_by_age: FloatArray, delay_days_sum: float, *, prior_mean_days: float, prior_outcomes: float
) -> DelayModel:
    """The exponential delay most likely given the seen outcomes, each truncated at its send's age.

    The likelihood's score says: the sum of the truncated means equals the sum of the seen delays
    (plus the prior's pseudo-outcomes, untruncated). The truncated mean grows with the mean, so the
    root is unique and found by bisection on a log scale. A send in bucket ``d`` is taken as
    ``d + 0.5`` days old; the last bucket, which also holds older sends, should be well beyond the
    delays (histories_from_rows' default is).
    """
    counts = np.asarray(outcomes_by_age, dtype=np.float64)
    limits = np.arange(counts.size, dtype=np.float64) + 0.5
    target = delay_days_sum + prior_outcomes * prior_mean_days
    low, high = np.log(MIN_MEAN_DAYS), np.log(MAX_MEAN_DAYS)
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        mean = float(np.exp(middle))
        if float(counts @ truncated_mean(mean, limits)) + prior_outcomes * mean < target:
            low = middle
        else:
            high = middle
    return DelayModel(float(np.exp(0.5 * (low + high))))


def counting_weights(
    settings: BanditSettings, outcomes_by_age: FloatArray, delay_days_sum: float
) -> tuple[DelayModel | None, FloatArray, FloatArray]:
    """How much each age bucket's sends and outcomes count: (the delay model if one was estimated,
    weight per bucket of sends, weight per bucket of outcomes)."""
    buckets = outcomes_by_age.size
    everything = np.ones(buckets, dtype=np.float64)
    if settings.delay == "pending_as_failure":
        return None, everything, everything
    if settings.delay == "fixed_window":
        settled = (np.arange(buckets) >= settings.window_days).astype(np.float64)
        return None, settled, settled
    model = estimate_delay(
        outcomes_by_age,
        delay_days_sum,
        prior_mean_days=settings.prior_delay_days,
        prior_outcomes=settings.delay_prior_outcomes,
    )
    return model, model.observed_share(buckets), everything
