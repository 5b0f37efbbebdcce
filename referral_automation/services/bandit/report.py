"""What a campaign's test shows: per arm the posterior, the chance of being best, the expected
profit and the off-policy (IPW) estimate; the holdout against the policy; the sample-ratio check.

The detection flow publishes it after each run (for the allocation the run used), ``bandit show``
prints it, and the later ``report`` command reads it from here. Everything comes from the
database: the allocation from the recorded history (``refresh``), the IPW estimates and the
holdout's comparison from the logged choices whose outcomes have had time to arrive, the check
from the choices of the last four weeks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, Campaign
from referral_automation.domain.arms import bandit_settings, outcome_kind
from referral_automation.domain.bandit import (
    Allocation,
    ArmKey,
    ArmSummary,
    IpwEstimate,
    IpwTotals,
    SampleRatioCheck,
    ipw_estimate,
    sample_ratio_mismatch,
    summarize,
)
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.bandit import store
from referral_automation.services.bandit.refresh import campaign_allocation

#: A send's outcome counts as settled once the estimated delay's CDF reaches this share.
SETTLED_SHARE = 0.95
#: The sample-ratio check looks at the choices of this many days before now: a drift shows while it
#: matters (an old, explained one does not warn forever), and the check reads a bounded set of allocations.
SAMPLE_RATIO_DAYS = 28


class UnknownCampaignError(ReferralAutomationError):
    """A campaign the configuration does not have."""


@dataclass(frozen=True, slots=True)
class ArmLine:
    """One arm's line: the posterior's summary and the IPW estimate of its worth per send."""

    summary: ArmSummary
    ipw: IpwEstimate

    @property
    def name(self) -> str:
        return f"{self.summary.arm.variant} × {self.summary.arm.incentive}"

    def row(self, *, money: bool) -> dict[str, str]:
        """The arm's figures as text (profit columns only when the objective is money)."""
        s, ipw = self.summary, self.ipw
        row = {
            "arm": self.name + (" (paused)" if s.arm.paused else ""),
            "sends": f"{s.sends:,}",
            "outcomes": f"{s.outcomes:,}",
            "rate": _percent(s.mean),
            "95 % interval": f"{_percent(s.low)} – {_percent(s.high)}",
            "P(best)": f"{s.p_best:.3f}",
            "share now": f"{s.propensity:.3f}",
        }
        if money:
            row["profit / send"] = _figure(s.expected_profit_per_send)
        stderr = _finite(ipw.stderr)
        row["IPW / send"] = "-" if not ipw.choices else f"{ipw.value:,.4g} ± {_figure(stderr)}"
        return row

    def as_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "variant": s.arm.variant,
            "incentive": s.arm.incentive,
            "paused": s.arm.paused,
            "sends": s.sends,
            "outcomes": s.outcomes,
            "settled_sends": round(s.settled_sends, 3),
            "mean": s.mean,
            "low": s.low,
            "high": s.high,
            "p_best": s.p_best,
            "propensity": s.propensity,
            "value_per_conversion": s.value_per_conversion,
            "expected_profit_per_send": s.expected_profit_per_send,
            "ipw_per_send": self.ipw.value if self.ipw.choices else None,
            "ipw_stderr": _finite(self.ipw.stderr) if self.ipw.choices else None,
            "ipw_sends": self.ipw.choices,
        }


@dataclass(frozen=True, slots=True)
class HoldoutComparison:
    """The objective's worth per settled send of the holdout's uniform choices and of the policy's."""

    holdout_sends: int
    holdout_per_send: float | None
    policy_sends: int
    policy_per_send: float | None

    @property
    def lift(self) -> float | None:
        """What the policy earned per send beyond a uniform split (None until both have sends)."""
        if self.holdout_per_send is None or self.policy_per_send is None:
            return None
        return self.policy_per_send - self.holdout_per_send


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """A campaign's test as of ``now``."""

    campaign: str
    now: datetime
    version: str
    policy: str
    objective: str
    #: The estimated mean delay of an outcome in days (None when nothing corrects for it).
    delay_days: float | None
    #: Sends made before this time count for the IPW estimates and the holdout comparison.
    settled_before: datetime
    arms: tuple[ArmLine, ...]
    holdout: HoldoutComparison
    sample_ratio: SampleRatioCheck

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "now": self.now.isoformat(),
            "model_version": self.version,
            "policy": self.policy,
            "objective": self.objective,
            "delay_days": self.delay_days,
            "settled_before": self.settled_before.isoformat(),
            "arms": [line.as_json() for line in self.arms],
            "holdout": {
                "holdout_sends": self.holdout.holdout_sends,
                "holdout_per_send": self.holdout.holdout_per_send,
                "policy_sends": self.holdout.policy_sends,
                "policy_per_send": self.holdout.policy_per_send,
                "lift_per_send": self.holdout.lift,
            },
            "sample_ratio": {
                "statistic": _finite(self.sample_ratio.statistic),
                "df": self.sample_ratio.df,
                "p_value": self.sample_ratio.p_value,
                "mismatch": self.sample_ratio.mismatch,
            },
        }

    def table(self) -> list[dict[str, str]]:
        """One row of text per arm, as the flow's artifact and ``bandit show`` print it."""
        return [line.row(money=self.objective == "profit") for line in self.arms]

    def notes(self) -> list[str]:
        """What the table cannot say: the model, the holdout's comparison, the allocation check."""
        delay = (
            "no delay correction" if self.delay_days is None else f"outcomes arrive after {self.delay_days:.1f} days"
        )
        notes = [f"policy {self.policy}, objective {self.objective}, {delay}; model {self.version}"]
        holdout = self.holdout
        if holdout.lift is None:
            notes.append(
                f"holdout: no settled sends to compare yet (sends before {self.settled_before:%Y-%m-%d %H:%M})"
            )
        else:
            notes.append(
                f"holdout: {_figure(holdout.holdout_per_send)} per send over {holdout.holdout_sends} settled sends, "
                f"the policy {_figure(holdout.policy_per_send)} over {holdout.policy_sends}: "
                f"lift {_figure(holdout.lift)} per send"
            )
        check = self.sample_ratio
        if check.mismatch:
            notes.append(
                f"WARNING: sample ratio mismatch (chi-square {check.statistic:.1f}, {check.df} df,"
                f" p = {check.p_value:.2g}): in the last {SAMPLE_RATIO_DAYS} days the arms were not chosen as often"
                " as their logged probabilities say; estimates built on the logs are suspect until it is explained"
            )
        else:
            notes.append(
                f"sample ratio: the choices of the last {SAMPLE_RATIO_DAYS} days match their logged probabilities"
                f" (p = {check.p_value:.2g})"
            )
        return notes


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:,.4g}"


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def _finite(value: float) -> float | None:
    """JSON has no infinity: an unbounded figure (a standard error of nothing) is null."""
    return value if math.isfinite(value) else None


def campaign_report(
    session: Session, campaign_id: str, campaign: Campaign, allocation: Allocation, *, now: datetime
) -> CampaignReport:
    """The report of ``allocation`` (the campaign's, as of ``now``) with the logged choices' estimates."""
    delay = allocation.snapshot.delay
    settle_days = 0.0 if delay is None else min(delay.mean_days * -math.log1p(-SETTLED_SHARE), store.MAX_AGE_DAYS)
    settled_before = now - timedelta(days=settle_days)
    settings = bandit_settings(campaign)
    sums = store.logged_sums(
        session,
        campaign=campaign_id,
        kind=outcome_kind(campaign).value,
        now=now,
        sent_before=settled_before,
        default_value=settings.default_value,
    )
    costs = {arm.key: arm.cost for arm in allocation.arms}
    profit = settings.objective == "profit"
    totals = _ipw_totals(sums, costs, profit=profit)
    lines = tuple(ArmLine(line, ipw_estimate(totals, {line.arm.key: 1.0})) for line in summarize(allocation))
    return CampaignReport(
        campaign=campaign_id,
        now=now,
        version=allocation.version,
        policy=settings.policy,
        objective=settings.objective,
        delay_days=None if delay is None else delay.mean_days,
        settled_before=settled_before,
        arms=lines,
        holdout=_holdout(sums, costs, profit=profit),
        sample_ratio=_sample_ratio(session, campaign_id, now=now),
    )


def _ipw_totals(sums: Sequence[store.LoggedSums], costs: Mapping[ArmKey, float], *, profit: bool) -> list[IpwTotals]:
    """Per arm, the sums of reward / propensity: profit's reward is value − cost on an outcome."""
    by_arm: dict[ArmKey, list[float]] = {}
    for row in sums:
        key = ArmKey(row.variant, row.incentive)
        cost = costs.get(key, 0.0) if profit else 0.0
        if profit:
            weighted = row.values - cost * row.outcomes
            squares = row.values_sq2 - 2 * cost * row.values_sq + cost * cost * row.outcomes_sq
        else:
            weighted, squares = row.outcomes, row.outcomes_sq
        total = by_arm.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        for index, value in enumerate((row.sends, weighted, squares, row.inverse)):
            total[index] += value
    return [IpwTotals(key, int(t[0]), t[1], t[2], t[3]) for key, t in by_arm.items()]


def _holdout(sums: Sequence[store.LoggedSums], costs: Mapping[ArmKey, float], *, profit: bool) -> HoldoutComparison:
    """Plain means of the objective's reward per settled send, holdout against policy."""
    sends = {True: 0, False: 0}
    worth = {True: 0.0, False: 0.0}
    for row in sums:
        cost = costs.get(ArmKey(row.variant, row.incentive), 0.0)
        sends[row.from_holdout] += row.sends
        worth[row.from_holdout] += row.value_seen - cost * row.outcomes_seen if profit else row.outcomes_seen

    def mean(side: bool) -> float | None:
        return worth[side] / sends[side] if sends[side] else None

    return HoldoutComparison(sends[True], mean(True), sends[False], mean(False))


def _sample_ratio(session: Session, campaign_id: str, *, now: datetime) -> SampleRatioCheck:
    """Observed choices per arm against the sum of the probabilities every logged choice of the last
    ``SAMPLE_RATIO_DAYS`` had."""
    since = now - timedelta(days=SAMPLE_RATIO_DAYS)
    counts = store.choice_counts(session, campaign=campaign_id, since=since, now=now)
    per_version: dict[str, int] = {}
    observed: dict[ArmKey, int] = {}
    for row in counts:
        per_version[row.version] = per_version.get(row.version, 0) + row.choices
        key = ArmKey(row.variant, row.incentive)
        observed[key] = observed.get(key, 0) + row.choices
    expected: dict[ArmKey, float] = {}
    for version, arms in store.allocation_arms(session, sorted(per_version)).items():
        for variant, incentive, propensity, _p_best in arms:
            key = ArmKey(variant, incentive)
            expected[key] = expected.get(key, 0.0) + per_version[version] * float(propensity)
    return sample_ratio_mismatch(observed, expected)


def bandit_reports(
    session_factory: sessionmaker[Session], config: AppConfig, allocations: Mapping[str, Allocation], *, now: datetime
) -> list[CampaignReport]:
    """The report of every campaign's allocation of a run (one read-only transaction)."""
    with session_factory() as session, session.begin():
        return [
            campaign_report(session, campaign_id, config.campaign(campaign_id), allocation, now=now)
            for campaign_id, allocation in allocations.items()
        ]


def show_campaign(
    session_factory: sessionmaker[Session], config: AppConfig, campaign_id: str, *, now: datetime
) -> CampaignReport:
    """The campaign's test as the next detection run would see it (refreshed, nothing written)."""
    if campaign_id not in config.campaigns.campaigns:
        known = ", ".join(sorted(config.campaigns.campaigns))
        raise UnknownCampaignError(f"unknown campaign {campaign_id!r} (the configuration has: {known})")
    campaign = config.campaign(campaign_id)
    with session_factory() as session, session.begin():
        allocation = campaign_allocation(session, campaign_id, campaign, now=now)
        return campaign_report(session, campaign_id, campaign, allocation, now=now)
