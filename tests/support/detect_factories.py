"""Hand-built customers, events, suppressions and earlier requests for detection tests (Core inserts)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, load_config
from referral_automation.db.models import Customer, JourneyEvent, Moment, ReferralRequest, Suppression
from tests.support import ROOT

#: A Wednesday, 10:00 UTC: inside the send window in Europe (11:00 in Berlin).
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)

SHIPPED_CONFIG: AppConfig = load_config(ROOT / "config")

_ids = itertools.count(1)


def add_customer(
    factory: sessionmaker[Session],
    customer_id: str,
    *,
    tenure_days: float | None = 365,
    opt_in: bool = True,
    lifetime_value: int = 1200,
    plan: str = "pro",
    timezone: str = "Europe/Berlin",
    email: str | None = None,
    at: datetime = NOW,
) -> str:
    """A customer whose first purchase was ``tenure_days`` before ``at``."""
    with factory() as session, session.begin():
        session.execute(
            Customer.__table__.insert(),
            {
                "customer_id": customer_id,
                "email": email or f"{customer_id}@example.com",
                "first_name": customer_id.title(),
                "last_name": "Tester",
                "company": "Acme",
                "plan": plan,
                "lifetime_value": Decimal(lifetime_value),
                "first_purchase_at": None if tenure_days is None else at - timedelta(days=tenure_days),
                "timezone": timezone,
                "locale": "en",
                "marketing_opt_in": opt_in,
                "created_at": at,
                "updated_at": at,
            },
        )
    return customer_id


def add_event(
    factory: sessionmaker[Session],
    customer_id: str,
    kind: str,
    *,
    at: datetime,
    event_id: str | None = None,
    **properties: Any,
) -> str:
    """A journey event of ``kind`` at ``at``; its id is generated unless given."""
    event_id = event_id or f"ev-{next(_ids):06d}"
    with factory() as session, session.begin():
        session.execute(
            JourneyEvent.__table__.insert(),
            {
                "event_id": event_id,
                "customer_id": customer_id,
                "type": kind,
                "occurred_at": at,
                "properties": properties,
                "ingested_at": at,
            },
        )
    return event_id


def suppress(factory: sessionmaker[Session], email: str, reason: str = "unsubscribed") -> None:
    with factory() as session, session.begin():
        session.execute(
            Suppression.__table__.insert(),
            {"email": email, "reason": reason, "source": "test", "created_at": NOW},
        )


def add_request(factory: sessionmaker[Session], customer_id: str, *, created_at: datetime, status: str = "sent") -> str:
    """An earlier referral request (with the moment it came from) for cool-down tests."""
    n = next(_ids)
    moment_id, request_id = f"m-earlier-{n}", f"r-earlier-{n}"
    with factory() as session, session.begin():
        session.execute(
            Moment.__table__.insert(),
            {
                "id": moment_id,
                "customer_id": customer_id,
                "rule_id": "milestone",
                "source_key": f"earlier-{n}",
                "event_seq": None,
                "occurred_at": created_at,
                "detected_at": created_at,
                "priority": 10,
                "campaign": "customer_referral",
                "outcome": "requested",
            },
        )
        session.execute(
            ReferralRequest.__table__.insert(),
            {
                "id": request_id,
                "customer_id": customer_id,
                "moment_id": moment_id,
                "campaign": "customer_referral",
                "variant": "gratitude",
                "incentive": "donation",
                "code": f"code-{n}",
                "unsubscribe_token": f"token-{n}",
                "status": status,
                "scheduled_for": created_at,
                "created_at": created_at,
                "updated_at": created_at,
            },
        )
    return request_id


def rows(factory: sessionmaker[Session], model: type[Any], *order_by: Any) -> list[dict[str, Any]]:
    """Every row of ``model``'s table as a dict (in ``order_by`` order)."""
    table = model.__table__
    with factory() as session:
        return [dict(row) for row in session.execute(select(table).order_by(*order_by)).mappings()]
