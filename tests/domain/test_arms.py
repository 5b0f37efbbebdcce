"""Arms: a campaign's test as the bandit sees it, and the request's reproducible pick."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args

import pytest

from referral_automation.config import ArmSpec, ArmTest, Campaign, Variant
from referral_automation.domain.arms import bandit_arms, bandit_settings, outcome_kind, seeded_rng
from referral_automation.domain.bandit import OBJECTIVES, POLICIES, ArmKey, BanditArm, refresh
from referral_automation.domain.identity import request_id
from referral_automation.domain.responses import ResponseKind


def with_test(campaign: Campaign, **fields: object) -> Campaign:
    return campaign.model_copy(update={"test": ArmTest.model_validate(fields)})


def test_without_a_list_every_variant_runs_with_every_incentive(campaign: Campaign) -> None:
    """It makes an arm of each variant × incentive, in the configured order, each costing its incentive's cost."""
    arms = bandit_arms(campaign)
    assert [(a.variant, a.incentive) for a in arms] == [
        (v.id, i.id) for v in campaign.variants for i in campaign.incentives
    ]
    costs = {i.id: float(i.cost) for i in campaign.incentives}
    assert all(a.cost == costs[a.incentive] and not a.paused for a in arms)


def test_a_listed_test_runs_its_arms_and_pauses_the_paused(campaign: Campaign) -> None:
    """It runs only the listed arms, in their order, and marks the paused one."""
    listed = with_test(
        campaign,
        arms=[
            {"variant": "direct_ask", "incentive": "donation"},
            {"variant": "gratitude", "incentive": "give50_get50", "paused": True},
        ],
    )
    assert bandit_arms(listed) == [
        BanditArm("direct_ask", "donation", paused=False, cost=25.0),
        BanditArm("gratitude", "give50_get50", paused=True, cost=150.0),
    ]


def test_the_settings_follow_the_campaigns_test(campaign: Campaign) -> None:
    """It hands the policy, objective, weights, holdout, floor and conversion value on to the bandit."""
    fixed = with_test(
        campaign,
        policy="fixed",
        objective="conversion",
        holdout=0.1,
        exploration_floor=0.05,
        floor_until_settled_sends=250,
        conversion_value="1200.50",
        arms=[
            {"variant": "gratitude", "incentive": "donation", "weight": 3},
            {"variant": "direct_ask", "incentive": "donation"},
        ],
    )
    settings = bandit_settings(fixed)
    assert (settings.policy, settings.objective, settings.holdout) == ("fixed", "conversion", 0.1)
    assert (settings.min_share, settings.min_settled, settings.default_value) == (0.05, 250.0, 1200.5)
    assert dict(settings.fixed_weights) == {ArmKey("gratitude", "donation"): 3.0}


def test_the_default_floor_never_holds_more_than_half_the_requests(campaign: Campaign) -> None:
    """It keeps each arm at 2 % by default, and at half of all requests split evenly once more than 25 arms run."""
    variants = [Variant(id=f"v{n}", template="customer_referral/gratitude") for n in range(20)]
    many = campaign.model_copy(update={"variants": variants})
    assert bandit_settings(campaign).min_share == 0.02
    assert bandit_settings(many).min_share == pytest.approx(0.5 / 40)
    assert bandit_settings(with_test(many, exploration_floor=0.01)).min_share == 0.01


def test_the_config_offers_exactly_the_bandits_policies_and_objectives() -> None:
    """It lets a campaign name every policy and objective the bandit knows, and nothing else."""
    assert get_args(ArmTest.model_fields["policy"].annotation) == POLICIES
    assert get_args(ArmTest.model_fields["objective"].annotation) == OBJECTIVES


def test_the_shipped_defaults_are_the_issues(campaign: Campaign) -> None:
    """It runs Thompson sampling on profit with a 5 % holdout unless the campaign says otherwise."""
    settings = bandit_settings(campaign)
    assert (settings.policy, settings.objective, settings.holdout, settings.default_value) == (
        "thompson",
        "profit",
        0.05,
        None,
    )


@pytest.mark.parametrize(
    ("objective", "kind"),
    [
        ("reply", ResponseKind.REPLIED_OK),
        ("referral", ResponseKind.REFERRAL),
        ("conversion", ResponseKind.CONVERSION),
        ("profit", ResponseKind.CONVERSION),
    ],
)
def test_each_objective_counts_its_response(campaign: Campaign, objective: str, kind: ResponseKind) -> None:
    """It counts replies, referees' sign-ups or conversions as the objective says (profit: conversions)."""
    assert outcome_kind(with_test(campaign, objective=objective)) is kind


def test_the_same_request_gets_the_same_arm(campaign: Campaign) -> None:
    """It picks the same arm for the same request id from the same allocation, and different ones across requests."""
    allocation = refresh(bandit_arms(campaign), [], bandit_settings(campaign))
    seeds = [request_id(f"moment-{n}") for n in range(60)]
    first = [allocation.pick(seeded_rng(seed)).arm for seed in seeds]
    again = [allocation.pick(seeded_rng(seed)).arm for seed in seeds]
    assert first == again
    assert len(set(first)) == len(bandit_arms(campaign))


def test_an_arm_spec_is_a_variant_and_an_incentive() -> None:
    """It refuses an arm spec without both names, or with a negative weight."""
    with pytest.raises(ValueError):
        ArmSpec.model_validate({"variant": "gratitude"})
    with pytest.raises(ValueError):
        ArmSpec.model_validate({"variant": "gratitude", "incentive": "donation", "weight": -1})
    assert ArmTest().conversion_value is None
    assert ArmTest(conversion_value=Decimal("10")).conversion_value == Decimal(10)
