"""The bandit's values: arm histories from the refresh query's rows, and the settings' checks."""

from __future__ import annotations

import pytest

from referral_automation.domain.bandit import AgeRow, ArmKey, BanditArm, BanditSettings, histories_from_rows


def test_rows_become_one_history_per_arm() -> None:
    """It gathers the rows of each arm into one history, by age bucket."""
    rows = [
        AgeRow("short", "credit10", 0, 40, 1, 0.5, 100.0),
        AgeRow("short", "credit10", 2, 30, 3, 4.5, 300.0),
        AgeRow("long", "credit50", 1, 10),
    ]
    histories = {h.arm: h for h in histories_from_rows(rows, max_age_days=3)}
    short = histories[ArmKey("short", "credit10")]
    assert short.sends_by_age == (40, 0, 30, 0)
    assert short.outcomes_by_age == (1, 0, 3, 0)
    assert short.delay_days_sum == pytest.approx(5.0)
    assert short.value_sum == pytest.approx(400.0)
    assert (short.sends, short.outcomes) == (70, 4)
    assert histories[ArmKey("long", "credit50")].sends_by_age == (0, 10, 0, 0)


def test_old_and_future_ages_are_folded_into_the_end_buckets() -> None:
    """It folds sends older than the last bucket into it, and a send dated a little ahead into today's."""
    rows = [AgeRow("a", "i", 400, 5, 1), AgeRow("a", "i", 2, 7), AgeRow("a", "i", -1, 3), AgeRow("a", "i", 400, 2)]
    (history,) = histories_from_rows(rows, max_age_days=2)
    assert history.sends_by_age == (3, 0, 14)
    assert history.outcomes_by_age == (0, 0, 1)


def test_an_arm_is_keyed_by_variant_and_incentive() -> None:
    """It identifies an arm by its variant and incentive, whatever its pause or cost."""
    assert BanditArm("v", "i", paused=True, cost=5.0).key == ArmKey("v", "i") == ("v", "i")


@pytest.mark.parametrize(
    "bad",
    [
        {"holdout": 1.0},
        {"holdout": -0.1},
        {"min_share": 1.5},
        {"min_settled": -1},
        {"prior_rate": 0.0},
        {"prior_sends": 0.0},
        {"min_prior_sends": 10.0, "max_prior_sends": 5.0},
        {"value_prior_conversions": 0.0},
        {"draws": 10},
        {"window_days": -1},
        {"prior_delay_days": 0.0},
        {"policy": "greedy"},
        {"objective": "clicks"},
        {"fixed_weights": {ArmKey("a", "b"): -1.0}},
    ],
)
def test_settings_refuse_impossible_values(bad: dict[str, object]) -> None:
    """It refuses settings that cannot describe a test."""
    with pytest.raises(ValueError):
        BanditSettings(**bad)  # type: ignore[arg-type]


def test_the_defaults_are_thompson_on_profit_with_a_holdout() -> None:
    """It runs Thompson sampling on profit with a five percent holdout unless told otherwise."""
    settings = BanditSettings()
    assert (settings.policy, settings.objective, settings.holdout) == ("thompson", "profit", 0.05)
    assert settings.delay == "delay_corrected"
