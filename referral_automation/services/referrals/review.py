"""A person decides on a held referral: accepted, it counts from then on (its ``referral`` response,
and if the referee already converted, the rewards and the ``conversion`` response); rejected, it
never counts. Both decisions are audited with who made them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.models import Referral
from referral_automation.db.shared import insert_audit
from referral_automation.domain.statuses import ReferralStatus
from referral_automation.errors import ConflictError, NotFoundError
from referral_automation.services.referrals import store
from referral_automation.services.referrals.conversions import LedgerPolicy, credit_conversion
from referral_automation.services.referrals.signups import referral_response
from referral_automation.services.responses.record import record_in_session


@dataclass(frozen=True, slots=True)
class HeldReferral:
    referral_id: str
    code: str
    referee_email: str
    advocate_customer_id: str
    reasons: tuple[str, ...]
    signed_up_at: datetime
    converted: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id,
            "code": self.code,
            "referee_email": self.referee_email,
            "advocate_customer_id": self.advocate_customer_id,
            "review_reasons": list(self.reasons),
            "signed_up_at": self.signed_up_at.isoformat(),
            "converted": self.converted,
        }


def list_held(session_factory: sessionmaker[Session], *, limit: int = 100) -> list[HeldReferral]:
    """Referrals waiting for a person, the oldest first."""
    query = (
        select(Referral)
        .where(Referral.status == ReferralStatus.HELD.value)
        .order_by(Referral.created_at, Referral.id)
        .limit(limit)
    )
    with session_factory() as session:
        return [
            HeldReferral(
                r.id,
                r.code,
                r.referee_email,
                r.advocate_customer_id,
                tuple(r.review_reasons or ()),
                r.created_at,
                r.converted_at is not None,
            )
            for r in session.execute(query).scalars()
        ]


def decide_referral(
    session_factory: sessionmaker[Session],
    referral_ref: str,
    *,
    accept: bool,
    by: str,
    note: str | None,
    now: datetime,
    config: AppConfig,
    policy: LedgerPolicy = LedgerPolicy(),
) -> ReferralStatus:
    """Accept or reject the held referral ``referral_ref`` (its id or a unique prefix of 8+ characters)."""
    with session_factory() as session, session.begin():
        referral = _held(session, referral_ref)
        referral.status = (ReferralStatus.ACCEPTED if accept else ReferralStatus.REJECTED).value
        referral.reviewed_by, referral.reviewed_at, referral.updated_at = by, now, now
        session.flush()
        if accept:
            response = referral_response(referral.id, referral.referral_request_id, referral.created_at)
            record_in_session(session, [response], now=now)
            if referral.converted_at is not None:
                credit_conversion(session, config, referral, now=now, refund_window_days=policy.refund_window_days)
        action = "referral.accepted" if accept else "referral.rejected"
        details = {"note": note, "reasons": list(referral.review_reasons or ())}
        insert_audit(
            session,
            [{"at": now, "actor": by, "action": action, "subject_type": "referral", "subject_id": referral.id,
              "details": details}],
        )  # fmt: skip
        return ReferralStatus(referral.status)


def _held(session: Session, referral_ref: str) -> Referral:
    found = store.referral_by_id(session, referral_ref, lock=True)
    if not found:
        raise NotFoundError(f"no referral has the id {referral_ref!r} (give its id or its first 8 characters)")
    if len(found) > 1:
        raise ConflictError(f"{referral_ref!r} names more than one referral: give more of its id")
    referral = found[0]
    if referral.status != ReferralStatus.HELD:
        raise ConflictError(f"referral {referral.id} is {referral.status}, not held for review")
    return referral
