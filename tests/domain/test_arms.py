"""Arms: one variant and one incentive per request, drawn reproducibly."""

from __future__ import annotations

from collections import Counter

from referral_automation.config import Campaign
from referral_automation.domain.arms import Arm, seeded_rng, uniform_arm
from referral_automation.domain.identity import request_id


def test_the_same_seed_gives_the_same_arm(campaign: Campaign) -> None:
    """It draws the same arm for the same request id in every run."""
    seeds = [request_id(f"moment-{n}") for n in range(50)]
    first = [uniform_arm(campaign, seeded_rng(seed)) for seed in seeds]
    again = [uniform_arm(campaign, seeded_rng(seed)) for seed in seeds]
    assert first == again
    assert len(set(first)) > 1


def test_arms_belong_to_the_campaign(campaign: Campaign) -> None:
    """It draws only variants and incentives of the campaign."""
    variants = {v.id for v in campaign.variants}
    incentives = {i.id for i in campaign.incentives}
    for n in range(200):
        arm = uniform_arm(campaign, seeded_rng(f"r{n}"))
        assert isinstance(arm, Arm)
        assert arm.variant in variants
        assert arm.incentive in incentives


def test_arms_are_drawn_uniformly(campaign: Campaign) -> None:
    """It gives every variant × incentive about the same share of requests."""
    draws = 6000
    counts = Counter(uniform_arm(campaign, seeded_rng(request_id(f"m{n}"))) for n in range(draws))
    arms = len(campaign.variants) * len(campaign.incentives)
    assert len(counts) == arms
    expected = draws / arms
    # Deterministic seeds: the tolerance only has to hold for these 6000 draws (about 5 standard deviations).
    assert all(abs(count - expected) < 0.15 * expected for count in counts.values()), counts
