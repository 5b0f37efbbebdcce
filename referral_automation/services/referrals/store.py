"""The referrals' SQL: advocates by code, referees, code use, the ledger. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from referral_automation.db.models import Customer, Referral, ReferralRequest, RewardEntry
from referral_automation.db.session import is_postgres
from referral_automation.db.sql import dialect_insert
from referral_automation.domain import rewards as ledger
from referral_automation.domain.rewards import RewardStatus

referrals_table: Table = Referral.__table__  # type: ignore[assignment]
rewards_table: Table = RewardEntry.__table__  # type: ignore[assignment]
customers_table: Table = Customer.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Advocate:
    """The request a referral code belongs to, and the customer it asked."""

    request_id: str
    customer_id: str
    email: str
    campaign: str
    incentive: str


def advocate_by_code(session: Session, code: str) -> Advocate | None:
    """One indexed lookup: ``referral_requests.code`` is unique."""
    query = (
        select(
            ReferralRequest.id,
            ReferralRequest.customer_id,
            Customer.email,
            ReferralRequest.campaign,
            ReferralRequest.incentive,
        )
        .join(Customer, Customer.customer_id == ReferralRequest.customer_id)
        .where(ReferralRequest.code == code)
    )
    row = session.execute(query).one_or_none()
    return Advocate(*row) if row else None


def arm_of_request(session: Session, request_id: str) -> tuple[str, str]:
    """(campaign, incentive) of a request."""
    query = select(ReferralRequest.campaign, ReferralRequest.incentive).where(ReferralRequest.id == request_id)
    campaign, incentive = session.execute(query).one()
    return campaign, incentive


def referral_by_canonical(session: Session, canonical: str, *, lock: bool = False) -> Referral | None:
    query = select(Referral).where(Referral.referee_canonical == canonical)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def referral_by_id(session: Session, referral_ref: str, *, lock: bool = False) -> list[Referral]:
    """Referrals whose id is ``referral_ref`` or starts with it (a prefix of 8 or more characters)."""
    if len(referral_ref) < 8:
        return []
    query = select(Referral).where(Referral.id.startswith(referral_ref, autoescape=True)).limit(2)
    return list(session.execute(query.with_for_update() if lock else query).scalars())


def referrals_of_code(session: Session, code: str, *, lock: bool = False) -> list[Referral]:
    """The code's referrals that have not converted (at most a few: the caller needs exactly one)."""
    query = select(Referral).where(Referral.code == code, Referral.converted_at.is_(None)).limit(3)
    return list(session.execute(query.with_for_update() if lock else query).scalars())


def code_use(session: Session, code: str, since: datetime, until: datetime) -> tuple[int, float]:
    """(sign-ups with ``code`` in the window, mean sign-ups of the other codes used in it)."""
    window = (Referral.created_at > since, Referral.created_at <= until)
    recent = session.execute(select(func.count()).where(Referral.code == code, *window)).scalar_one()
    others = session.execute(
        select(func.count(), func.count(func.distinct(Referral.code))).where(Referral.code != code, *window)
    ).one()
    typical = others[0] / others[1] if others[1] else 0.0
    return int(recent), float(typical)


def insert_referral(session: Session, row: dict[str, Any]) -> bool:
    """``True`` if inserted; ``False`` when the referee is already there (a concurrent sign-up won)."""
    insert = (
        dialect_insert(session, referrals_table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["referee_canonical"])
        .returning(referrals_table.c.id)
    )
    return session.execute(insert).first() is not None


def lock_advocate(session: Session, customer_id: str) -> None:
    """Serialise conversions of one advocate, so two at once cannot both slip under the cap
    (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already lets one writer in at a time)."""
    if is_postgres(session):
        session.execute(select(Customer.customer_id).where(Customer.customer_id == customer_id).with_for_update())


def referrer_rewards_so_far(session: Session, advocate_customer_id: str, incentive_id: str) -> int:
    """The advocate's referrer rewards under ``incentive_id``, pending or issued (the cap counts them)."""
    query = select(func.count()).where(
        RewardEntry.recipient == advocate_customer_id,
        RewardEntry.incentive_id == incentive_id,
        RewardEntry.side == "referrer",
        RewardEntry.status != RewardStatus.CANCELLED.value,
    )
    return int(session.execute(query).scalar_one())


def insert_rewards(session: Session, entries: Sequence[ledger.RewardEntry], *, now: datetime) -> int:
    """Ledger lines, once each by id; how many were new."""
    if not entries:
        return 0
    rows = [
        {
            "id": entry.reward_id,
            "referral_id": entry.referral_id,
            "incentive_id": entry.incentive_id,
            "side": entry.side,
            "recipient": entry.recipient,
            "kind": entry.kind,
            "value": entry.value,
            "currency": entry.currency,
            "description": entry.description,
            "status": entry.status.value,
            "issue_after": entry.issue_after,
            "created_at": now,
            "updated_at": now,
        }
        for entry in entries
    ]
    insert = dialect_insert(session, rewards_table).on_conflict_do_nothing(index_elements=["id"])
    return len(session.execute(insert.returning(rewards_table.c.id), rows).all())


def rewards_of(session: Session, referral_id: str) -> list[RewardEntry]:
    query = select(RewardEntry).where(RewardEntry.referral_id == referral_id).order_by(RewardEntry.side.desc())
    return list(session.execute(query).scalars())


def customer_by_id_or_email(session: Session, customer_id: str | None, email: str) -> Customer | None:
    """The customer ``customer_id`` names, else the first one with ``email``."""
    if customer_id is not None:
        return session.get(Customer, customer_id)
    query = select(Customer).where(Customer.email == email).order_by(Customer.created_at).limit(1)
    return session.execute(query).scalar_one_or_none()


def set_referred_by(session: Session, customer_id: str, advocate_customer_id: str, *, now: datetime) -> None:
    """The advocate as the customer's referrer, unless another referral got there first."""
    session.execute(
        update(Customer)
        .where(Customer.customer_id == customer_id, Customer.referred_by.is_(None))
        .values(referred_by=advocate_customer_id, updated_at=now)
    )
