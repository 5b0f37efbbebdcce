"""Sends and outcomes of a campaign's test, written as the engine writes them, for the bandit's tests.

``add_sends`` inserts requests whose arms were picked by an allocation (its row recorded, each
request logging the choice as detection does) and whose first ask went out at ``sent_at``;
``add_outcomes`` records responses through ``services.responses.record`` as the web app does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, Moment, ReferralRequest
from referral_automation.domain import identity
from referral_automation.domain.arms import seeded_rng
from referral_automation.domain.bandit import Allocation, ArmKey
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.bandit import store
from referral_automation.services.bandit.refresh import allocation_row
from referral_automation.services.responses.record import ResponseInput, record_responses

Factory = sessionmaker[Session]
_numbers = itertools.count(1)
#: When ``add_sends`` records its allocation (the time only describes the row).
RECORDED = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def add_advocate(factory: Factory, customer_id: str = "adv", *, at: datetime) -> str:
    with factory() as session, session.begin():
        session.add(
            Customer(
                customer_id=customer_id, email=f"{customer_id}@example.com", timezone="UTC", marketing_opt_in=True,
                first_purchase_at=at - timedelta(days=400), created_at=at, updated_at=at,
            )
        )  # fmt: skip
    return customer_id


def _request(
    customer_id: str, campaign: str, arm: ArmKey, sent_at: datetime | None, logged: dict[str, Any]
) -> tuple[Moment, ReferralRequest]:
    number = next(_numbers)
    moment_id = identity.moment_id(customer_id, "nps_promoter", f"bandit-{number}")
    created = (sent_at or RECORDED) - timedelta(hours=1)
    moment = Moment(
        id=moment_id, customer_id=customer_id, rule_id="nps_promoter", source_key=f"bandit-{number}",
        occurred_at=created, detected_at=created, priority=30, campaign=campaign, outcome="requested",
    )  # fmt: skip
    request = ReferralRequest(
        id=identity.request_id(moment_id), customer_id=customer_id, moment_id=moment_id, campaign=campaign,
        variant=arm.variant, incentive=arm.incentive, code=f"code-{number:08d}", unsubscribe_token=f"token-{number}",
        status="sent" if sent_at else "scheduled", scheduled_for=created, created_at=created, updated_at=created,
        sent_at=sent_at, approval_required=False, followups_sent=0, attempts=0, **logged,
    )  # fmt: skip
    return moment, request


def add_sends(
    factory: Factory,
    sent_at: Sequence[datetime | None],
    *,
    arm: ArmKey | None = None,
    allocation: Allocation | None = None,
    customer_id: str = "adv",
    campaign: str = "customer_referral",
) -> list[str]:
    """One request per time in ``sent_at`` (None: not sent yet), all of ``arm``, or each picked by
    ``allocation`` with the choice logged; their ids, in order."""
    rows: list[tuple[Moment, ReferralRequest]] = []
    with factory() as session, session.begin():
        if allocation is not None:
            store.insert_allocation(session, allocation_row(allocation, now=RECORDED))
        for at in sent_at:
            if allocation is None:
                assert arm is not None, "give an arm or an allocation"
                rows.append(_request(customer_id, campaign, arm, at, {}))
                continue
            number = next(_numbers)
            choice = allocation.pick(seeded_rng(f"pick-{number}"))
            logged = {
                "model_version": choice.model_version,
                "arm_propensity": choice.propensity,
                "from_holdout": choice.from_holdout,
            }
            rows.append(_request(customer_id, campaign, choice.arm.key, at, logged))
        for moment, _ in rows:
            session.add(moment)
        session.flush()
        for _, request in rows:
            session.add(request)
    return [request.id for _, request in rows]


def add_outcomes(
    factory: Factory,
    outcomes: Sequence[tuple[str, ResponseKind, datetime, dict[str, Any]]],
    *,
    now: datetime,
) -> None:
    """Record ``(request id, kind, occurred at, details)`` responses through the engine's one door."""
    record_responses(
        factory,
        [
            ResponseInput(kind=kind, occurred_at=at, source="test", referral_request_id=request_id, details=details)
            for request_id, kind, at, details in outcomes
        ],
        now=now,
    )
