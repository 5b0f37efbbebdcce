"""The arm of a referral request: one message variant and one incentive of its campaign.

Until the bandit arrives, arms are drawn uniformly with a seeded RNG, so the same request always
gets the same arm however often detection re-runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from referral_automation.config import Campaign


@dataclass(frozen=True, slots=True)
class Arm:
    variant: str
    incentive: str


def uniform_arm(campaign: Campaign, rng: random.Random) -> Arm:
    """A uniform draw among the campaign's variants × incentives."""
    variant = rng.choice(campaign.variants)
    incentive = rng.choice(campaign.incentives)
    return Arm(variant=variant.id, incentive=incentive.id)


def seeded_rng(seed: str) -> random.Random:
    """An RNG seeded by a string (such as the request id), reproducible across processes."""
    return random.Random(seed)
