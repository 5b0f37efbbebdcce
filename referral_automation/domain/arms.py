"""A campaign's test as the bandit sees it: its arms, its settings, and what counts as an outcome.

An arm is one message variant sent with one incentive (``ArmKey``). The campaign's ``test:`` says
which combinations run, which are paused, the policy and the objective; this module turns that
into the bandit's values, so the rule book and the services never read the YAML's shape.

A request's arm is picked with an RNG seeded by the request id (``seeded_rng``): re-running
detection on the same data with the same allocation picks the same arm.
"""

from __future__ import annotations

import random

from referral_automation.config import Campaign
from referral_automation.domain.bandit import ArmKey, BanditArm, BanditSettings, Objective
from referral_automation.domain.responses import ResponseKind

#: The response that counts as a success for each objective (profit weighs conversions by their value).
OUTCOME_KINDS: dict[Objective, ResponseKind] = {
    "reply": ResponseKind.REPLIED_OK,
    "referral": ResponseKind.REFERRAL,
    "conversion": ResponseKind.CONVERSION,
    "profit": ResponseKind.CONVERSION,
}


def bandit_arms(campaign: Campaign) -> list[BanditArm]:
    """The test's arms in the configured order, each with its incentive's cost per conversion."""
    costs = {incentive.id: float(incentive.cost) for incentive in campaign.incentives}
    return [
        BanditArm(arm.variant, arm.incentive, paused=arm.paused, cost=costs[arm.incentive]) for arm in campaign.arms()
    ]


def bandit_settings(campaign: Campaign) -> BanditSettings:
    """The bandit's settings from the campaign's ``test:`` (the rest keep the bandit's defaults)."""
    test = campaign.test
    weights = {ArmKey(arm.variant, arm.incentive): arm.weight for arm in campaign.arms() if arm.weight is not None}
    return BanditSettings(
        policy=test.policy,
        objective=test.objective,
        fixed_weights=weights,
        holdout=test.holdout,
        min_share=campaign.exploration_floor(),
        min_settled=float(test.floor_until_settled_sends),
        default_value=None if test.conversion_value is None else float(test.conversion_value),
    )


def outcome_kind(campaign: Campaign) -> ResponseKind:
    """The response kind the campaign's objective counts."""
    return OUTCOME_KINDS[campaign.test.objective]


def seeded_rng(seed: str) -> random.Random:
    """An RNG seeded by a string (such as the request id), reproducible across processes."""
    return random.Random(seed)
