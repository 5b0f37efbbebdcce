"""Every campaign's test refreshed from what the database recorded, once per detection run.

The posteriors come from the recorded sends and outcomes (``store.age_rows``), never from a
process's memory, so any worker refreshing the same data arrives at the same allocation and the
same model version (the Monte Carlo draws are seeded from the data itself). The run records each
allocation (``bandit_allocations``) before any request names it, then uses it for every request
it creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, Campaign
from referral_automation.domain.arms import bandit_arms, bandit_settings, outcome_kind
from referral_automation.domain.bandit import Allocation, histories_from_rows, refresh
from referral_automation.services.bandit import store

#: Each campaign's allocation for one detection run, by campaign id.
Allocations = Mapping[str, Allocation]


def campaign_allocation(session: Session, campaign: str, config: Campaign, *, now: datetime) -> Allocation:
    """The campaign's allocation from its recorded history as of ``now`` (reads only)."""
    settings, arms = bandit_settings(config), bandit_arms(config)
    rows = store.age_rows(
        session,
        campaign=campaign,
        arms=[arm.key for arm in arms],
        kind=outcome_kind(config).value,
        now=now,
        default_value=settings.default_value,
    )
    return refresh(arms, histories_from_rows(rows, max_age_days=store.MAX_AGE_DAYS), settings)


def refresh_allocations(
    session_factory: sessionmaker[Session], config: AppConfig, *, now: datetime
) -> dict[str, Allocation]:
    """Every campaign's allocation as of ``now``, each recorded (once) for the requests that will name it."""
    found: dict[str, Allocation] = {}
    with session_factory() as session, session.begin():
        for campaign_id, campaign in config.campaigns.campaigns.items():
            allocation = campaign_allocation(session, campaign_id, campaign, now=now)
            store.insert_allocation(session, allocation_row(allocation, now=now))
            found[campaign_id] = allocation
    return found


def allocation_row(allocation: Allocation, *, now: datetime) -> dict[str, Any]:
    """The ``bandit_allocations`` row of an allocation."""
    settings = allocation.snapshot.settings
    arms = [
        [arm.variant, arm.incentive, propensity, p_best]
        for arm, propensity, p_best in zip(allocation.arms, allocation.propensities, allocation.p_best, strict=True)
    ]
    return {
        "version": allocation.version,
        "created_at": now,
        "policy": settings.policy,
        "objective": settings.objective,
        "holdout": settings.holdout,
        "arms": arms,
    }
