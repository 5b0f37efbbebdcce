"""A referee becomes a customer: the referral converts, both sides earn what the arm's incentive
promised, and the referee joins the customers (``referred_by`` their advocate), to be asked in turn.

Only a referee who signed up converts (anything else is refused: there is nobody to credit). The
referee is named by address, or by the code when exactly one referee used it and has not converted.
A referral converts once: the same conversion again answers with what was recorded and writes
nothing (``created`` is false), and the ledger's ids are derived per referral and side, so even a
race adds no second reward. The cap per advocate is counted under a lock on the advocate's row.

A held referral's conversion is kept (its value and the new customer), but earns nothing and counts
for nothing until a person accepts the referral (``review``); a rejected one cannot convert.

The referee's customer row starts without marketing consent: the CRM's next customer import
(upserted by ``customer_id``, which the caller may give) says whether they may be asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, Incentive
from referral_automation.db.models import Customer, Referral
from referral_automation.domain import rewards
from referral_automation.domain.identity import uuid5
from referral_automation.domain.referees import canonical_email
from referral_automation.domain.responses import ResponseKind
from referral_automation.domain.statuses import ReferralStatus
from referral_automation.errors import ConflictError, NotFoundError
from referral_automation.services.referrals import store
from referral_automation.services.referrals.inputs import ConversionIn
from referral_automation.services.responses.record import ResponseInput, record_in_session


@dataclass(frozen=True, slots=True)
class RewardLine:
    reward_id: str
    side: str
    recipient: str
    kind: str
    value: Decimal
    currency: str | None
    status: str
    issue_after: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "reward_id": self.reward_id,
            "side": self.side,
            "recipient": self.recipient,
            "kind": self.kind,
            "value": str(self.value),
            "currency": self.currency,
            "status": self.status,
            "issue_after": self.issue_after.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ConversionResult:
    referral_id: str
    referral_status: str
    referral_request_id: str
    advocate_customer_id: str
    referee_customer_id: str
    value: Decimal
    currency: str
    converted_at: datetime
    created: bool
    rewards: tuple[RewardLine, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id,
            "referral_status": self.referral_status,
            "referral_request_id": self.referral_request_id,
            "advocate_customer_id": self.advocate_customer_id,
            "referee_customer_id": self.referee_customer_id,
            "value": str(self.value),
            "currency": self.currency,
            "converted_at": self.converted_at.isoformat(),
            "created": self.created,
            "rewards": [line.as_json() for line in self.rewards],
        }


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    """How rewards are booked: the refund window (``REFERRAL_REFUND_WINDOW_DAYS``) and the currency
    of a value that names none (``REFERRAL_DEFAULT_CURRENCY``)."""

    refund_window_days: int = 30
    default_currency: str = "USD"


def record_conversion(
    session_factory: sessionmaker[Session],
    conversion: ConversionIn,
    *,
    config: AppConfig,
    now: datetime,
    policy: LedgerPolicy = LedgerPolicy(),
) -> ConversionResult:
    """Mark the referee converted, add them as a customer and credit both sides (see the module)."""
    with session_factory() as session, session.begin():
        referral = _referral_of(session, conversion)
        if referral.status == ReferralStatus.REJECTED:
            raise ConflictError(f"referral {referral.id} was rejected on review: it cannot convert")
        if referral.converted_at is not None:
            return _result(session, referral, created=False)
        store.lock_advocate(session, referral.advocate_customer_id)
        referral.converted_at = conversion.occurred_at or now
        referral.conversion_value = conversion.value
        referral.currency = conversion.currency or policy.default_currency
        referral.referee_customer_id = _referee_customer(session, referral, conversion.customer_id, now=now)
        referral.updated_at = now
        session.flush()
        if referral.status == ReferralStatus.ACCEPTED:
            credit_conversion(session, config, referral, now=now, refund_window_days=policy.refund_window_days)
        return _result(session, referral, created=True)


def _referral_of(session: Session, conversion: ConversionIn) -> Referral:
    """The referral a conversion names, locked; ``NotFoundError`` or ``ConflictError`` otherwise."""
    if conversion.referee_email is not None:
        referral = store.referral_by_canonical(session, canonical_email(conversion.referee_email), lock=True)
        if referral is None:
            raise NotFoundError(f"{conversion.referee_email} never signed up with a referral code")
        if conversion.code is not None and referral.code != conversion.code:
            raise ConflictError(f"{conversion.referee_email} signed up with another code than {conversion.code!r}")
        return referral
    assert conversion.code is not None  # the input model requires one of the two
    candidates = store.referrals_of_code(session, conversion.code, lock=True)
    if not candidates:
        raise NotFoundError(f"no referee who has not converted yet signed up with the code {conversion.code!r}")
    if len(candidates) > 1:
        raise ConflictError(f"several referees signed up with the code {conversion.code!r}: give referee_email")
    return candidates[0]


def _referee_customer(session: Session, referral: Referral, customer_id: str | None, *, now: datetime) -> str:
    """The referee's customer id: an existing customer (by the id given, else by address), or a new one."""
    existing = store.customer_by_id_or_email(session, customer_id, referral.referee_email)
    if existing is not None:
        store.set_referred_by(session, existing.customer_id, referral.advocate_customer_id, now=now)
        return existing.customer_id
    new_id = customer_id or f"ref-{uuid5('referee' + chr(31) + referral.referee_canonical)}"
    first, _, last = referral.referee_name.partition(" ")
    session.add(
        Customer(
            customer_id=new_id,
            email=referral.referee_email,
            first_name=first,
            last_name=last,
            lifetime_value=referral.conversion_value or Decimal(0),
            first_purchase_at=referral.converted_at,
            marketing_opt_in=False,
            created_at=now,
            updated_at=now,
            referred_by=referral.advocate_customer_id,
        )
    )
    return new_id


def credit_conversion(
    session: Session, config: AppConfig, referral: Referral, *, now: datetime, refund_window_days: int
) -> int:
    """The rewards and the ``conversion`` response of an accepted, converted referral; how many
    ledger lines were new. Shared with ``review``, which credits a held conversion once accepted."""
    assert referral.converted_at is not None
    assert referral.conversion_value is not None
    incentive = _incentive(session, config, referral)
    conversion = rewards.Conversion(
        referral_id=referral.id,
        advocate_customer_id=referral.advocate_customer_id,
        referee_email=referral.referee_email,
        converted_at=referral.converted_at,
        value=referral.conversion_value,
    )
    so_far = store.referrer_rewards_so_far(session, referral.advocate_customer_id, incentive.id)
    entries = rewards.rewards_for_conversion(
        incentive, conversion, referrer_rewards_so_far=so_far, refund_window_days=refund_window_days
    )
    added = store.insert_rewards(session, entries, now=now)
    response = ResponseInput(
        kind=ResponseKind.CONVERSION,
        occurred_at=referral.converted_at,
        source="referrals",
        referral_request_id=referral.referral_request_id,
        external_id=f"conversion:{referral.id}",
        details={"referral_id": referral.id, "value": float(referral.conversion_value), "currency": referral.currency},
    )
    record_in_session(session, [response], now=now)
    return added


def _incentive(session: Session, config: AppConfig, referral: Referral) -> Incentive:
    campaign_id, incentive_id = store.arm_of_request(session, referral.referral_request_id)
    campaign = config.campaigns.campaigns.get(campaign_id)
    incentive = next((i for i in campaign.incentives if i.id == incentive_id), None) if campaign else None
    if incentive is None:
        raise ConflictError(
            f"the request's incentive {campaign_id}/{incentive_id} is no longer in campaigns.yaml: "
            "restore it to credit this conversion"
        )
    return incentive


def _result(session: Session, referral: Referral, *, created: bool) -> ConversionResult:
    assert referral.converted_at is not None
    assert referral.referee_customer_id is not None
    lines = tuple(
        RewardLine(r.id, r.side, r.recipient, r.kind, r.value, r.currency, r.status, r.issue_after)
        for r in store.rewards_of(session, referral.id)
    )
    return ConversionResult(
        referral_id=referral.id,
        referral_status=referral.status,
        referral_request_id=referral.referral_request_id,
        advocate_customer_id=referral.advocate_customer_id,
        referee_customer_id=referral.referee_customer_id,
        value=referral.conversion_value or Decimal(0),
        currency=referral.currency or "",
        converted_at=referral.converted_at,
        created=created,
        rewards=lines,
    )
