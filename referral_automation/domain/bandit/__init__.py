"""The multi-armed test of message variants × incentives: pure math, no database, no clock.

A refresh turns each arm's recorded history (aggregate counts by age, ``ArmHistory``) into
posteriors and an ``Allocation``; a pick samples the allocation and returns a ``Choice`` that
carries every arm's probability and the model version, for off-policy evaluation later.

    allocation = refresh(arms, histories, BanditSettings(objective="profit"))
    choice = allocation.pick(random.Random(request_id))
"""

from referral_automation.domain.bandit.allocation import (
    Allocation,
    Choice,
    alias_table,
    allocate,
    probability_best,
    refresh,
    with_floor,
)
from referral_automation.domain.bandit.delay import DelayModel, estimate_delay
from referral_automation.domain.bandit.model import (
    OBJECTIVES,
    POLICIES,
    AgeRow,
    ArmHistory,
    ArmKey,
    BanditArm,
    BanditSettings,
    DelayHandling,
    Objective,
    PolicyName,
    histories_from_rows,
)
from referral_automation.domain.bandit.posterior import ArmPosterior, PosteriorSnapshot, posterior_snapshot
from referral_automation.domain.bandit.report import (
    SRM_ALPHA,
    ArmSummary,
    IpwEstimate,
    IpwTotals,
    LoggedOutcome,
    SampleRatioCheck,
    ipw_estimate,
    ipw_totals,
    sample_ratio_mismatch,
    summarize,
)
from referral_automation.domain.bandit.special import beta_ppf, betainc, chi2_sf, gammaincc

__all__ = [
    "OBJECTIVES",
    "POLICIES",
    "SRM_ALPHA",
    "AgeRow",
    "Allocation",
    "ArmHistory",
    "ArmKey",
    "ArmPosterior",
    "ArmSummary",
    "BanditArm",
    "BanditSettings",
    "Choice",
    "DelayHandling",
    "DelayModel",
    "IpwEstimate",
    "IpwTotals",
    "LoggedOutcome",
    "Objective",
    "PolicyName",
    "PosteriorSnapshot",
    "SampleRatioCheck",
    "alias_table",
    "allocate",
    "beta_ppf",
    "betainc",
    "chi2_sf",
    "estimate_delay",
    "gammaincc",
    "histories_from_rows",
    "ipw_estimate",
    "ipw_totals",
    "posterior_snapshot",
    "probability_best",
    "refresh",
    "sample_ratio_mismatch",
    "summarize",
    "with_floor",
]
