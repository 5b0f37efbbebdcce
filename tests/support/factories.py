"""Customers, moments and referral requests inserted through the ORM, for service and CLI tests.

Every row is valid as the engine writes it: ids from domain/identity.py, aware UTC times,
a unique referral code and unsubscribe token per request.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import ApprovalDecision, Customer, Moment, ReferralRequest
from referral_automation.db.session import session_factory
from referral_automation.domain import identity

#: A Wednesday, 10:00 UTC.
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)

_sequence = itertools.count(1)


def sessions(url: str) -> sessionmaker[Session]:
    return session_factory(url)


def add_customer(
    factory: sessionmaker[Session],
    customer_id: str = "c1",
    *,
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    company: str = "Analytical Engines",
    plan: str = "enterprise",
    lifetime_value: str = "75000",
    timezone: str = "Europe/Berlin",
    at: datetime = NOW,
) -> str:
    with factory() as session, session.begin():
        session.add(
            Customer(
                customer_id=customer_id,
                email=f"{customer_id}@example.com",
                first_name=first_name,
                last_name=last_name,
                company=company,
                plan=plan,
                lifetime_value=Decimal(lifetime_value),
                first_purchase_at=at - timedelta(days=400),
                timezone=timezone,
                locale="en",
                marketing_opt_in=True,
                created_at=at - timedelta(days=400),
                updated_at=at - timedelta(days=400),
            )
        )
    return customer_id


def add_request(
    factory: sessionmaker[Session],
    customer_id: str = "c1",
    *,
    status: str = "pending_approval",
    created_at: datetime = NOW - timedelta(days=1),
    expires_in: timedelta | None = timedelta(days=13),
    campaign: str = "customer_referral",
    variant: str = "gratitude",
    incentive: str = "give50_get50",
    request_id: str | None = None,
    sent_at: datetime | None = None,
    followups_sent: int = 0,
) -> str:
    """A moment and the referral request it led to; an approval's ``expires_in`` counts from ``NOW``."""
    source = f"ev-{next(_sequence):06d}"
    moment = identity.moment_id(customer_id, "nps_promoter", source)
    key = request_id or identity.request_id(moment)
    needs_approval = status in ("pending_approval", "approved", "rejected", "expired")
    with factory() as session, session.begin():
        session.add(
            Moment(
                id=moment,
                customer_id=customer_id,
                rule_id="nps_promoter",
                source_key=source,
                occurred_at=created_at - timedelta(hours=1),
                detected_at=created_at,
                priority=30,
                campaign=campaign,
                outcome="requested",
            )
        )
        session.flush()
        session.add(
            ReferralRequest(
                id=key,
                customer_id=customer_id,
                moment_id=moment,
                campaign=campaign,
                variant=variant,
                incentive=incentive,
                code=identity.new_referral_code(),
                unsubscribe_token=secrets.token_urlsafe(16),
                status=status,
                approval_required=needs_approval,
                approval_reason="plan 'enterprise' needs approval" if needs_approval else None,
                approval_expires_at=NOW + expires_in if needs_approval and expires_in is not None else None,
                scheduled_for=created_at,
                created_at=created_at,
                updated_at=created_at,
                sent_at=sent_at,
                followups_sent=followups_sent,
            )
        )
    return key


def add_decision(
    factory: sessionmaker[Session], request_id: str, decision: str, *, by: str, at: datetime, note: str | None = None
) -> None:
    with factory() as session, session.begin():
        session.add(
            ApprovalDecision(referral_request_id=request_id, decision=decision, decided_by=by, decided_at=at, note=note)
        )
