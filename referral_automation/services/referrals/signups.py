"""A referee signs up with an advocate's code.

One referee is one mailbox (``domain.referees.canonical_email``): the same person signing up twice,
under another spelling or with another advocate's code, is refused as a conflict, so a referral
is counted (and rewarded) once. The advocate's own mailbox is refused outright. A throwaway
address or a code used far more than usual is not refused but ``held``: the sign-up is kept and
a person decides (``review``); only then does it count.

A sign-up that counts is a ``referral`` response on the advocate's request, written in the same
transaction (it stops that request's follow-ups). ``external_id`` is ``referral:<id>``, so replaying
a back-office file records nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.shared import insert_audit
from referral_automation.domain.identity import uuid5
from referral_automation.domain.referees import (
    DEFAULT_FACTOR,
    DEFAULT_FLOOR,
    canonical_email,
    is_disposable,
    is_self_referral,
    unusual_code_use,
)
from referral_automation.domain.responses import ResponseKind
from referral_automation.domain.statuses import ReferralStatus
from referral_automation.errors import ConflictError, NotFoundError, RefusedError
from referral_automation.services.referrals import store
from referral_automation.services.referrals.inputs import SignupIn
from referral_automation.services.responses.record import ResponseInput, record_in_session


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """When a code's use is unusual: more than ``max(floor, factor x typical)`` sign-ups in ``window``."""

    window: timedelta = timedelta(hours=24)
    floor: int = DEFAULT_FLOOR
    factor: float = DEFAULT_FACTOR


@dataclass(frozen=True, slots=True)
class SignupResult:
    referral_id: str
    status: ReferralStatus
    referral_request_id: str
    advocate_customer_id: str
    reasons: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id,
            "status": self.status.value,
            "referral_request_id": self.referral_request_id,
            "advocate_customer_id": self.advocate_customer_id,
            "review_reasons": list(self.reasons),
        }


def referral_id_of(referee_email: str) -> str:
    """A referral's id, derived from its referee's mailbox: one referee, one id."""
    return uuid5(f"referral\x1f{canonical_email(referee_email)}")


def record_signup(
    session_factory: sessionmaker[Session],
    signup: SignupIn,
    *,
    now: datetime,
    source: str,
    policy: ReviewPolicy = ReviewPolicy(),
) -> SignupResult:
    """Record a referee's sign-up: ``accepted`` (a ``referral`` response) or ``held`` for review.

    ``NotFoundError`` for an unknown code, ``RefusedError`` for a self-referral, ``ConflictError``
    when the referee was referred before.
    """
    occurred = signup.occurred_at or now
    canonical = canonical_email(signup.email)
    with session_factory() as session, session.begin():
        advocate = store.advocate_by_code(session, signup.code)
        if advocate is None:
            raise NotFoundError(f"no referral request has the code {signup.code!r}")
        if is_self_referral(advocate.email, signup.email):
            raise RefusedError(f"self-referral: {signup.email} is the advocate's own mailbox")
        _refuse_known_referee(session, canonical, signup.email)
        reasons = _review_reasons(session, signup, policy, occurred)
        status = ReferralStatus.HELD if reasons else ReferralStatus.ACCEPTED
        result = SignupResult(referral_id_of(signup.email), status, advocate.request_id, advocate.customer_id, reasons)
        if not store.insert_referral(session, _row(result, signup, canonical, occurred, source=source, now=now)):
            raise ConflictError(f"{signup.email} was referred a moment ago by another sign-up")
        if status is ReferralStatus.ACCEPTED:
            record_in_session(session, [referral_response(result.referral_id, advocate.request_id, occurred)], now=now)
        else:
            _audit_hold(session, result, now=now)
    return result


def _refuse_known_referee(session: Session, canonical: str, email: str) -> None:
    existing = store.referral_by_canonical(session, canonical)
    if existing is not None:
        raise ConflictError(
            f"{email} was already referred on {existing.created_at:%Y-%m-%d} (referral {existing.id}): "
            "a referee counts once"
        )


def _review_reasons(session: Session, signup: SignupIn, policy: ReviewPolicy, occurred: datetime) -> tuple[str, ...]:
    reasons = []
    if is_disposable(signup.email):
        reasons.append(f"disposable address domain: {signup.email.rpartition('@')[2]}")
    recent, typical = store.code_use(session, signup.code, occurred - policy.window, occurred)
    unusual = unusual_code_use(recent + 1, typical, floor=policy.floor, factor=policy.factor)
    if unusual:
        reasons.append(f"unusual code use: {unusual}")
    return tuple(reasons)


def _row(
    result: SignupResult, signup: SignupIn, canonical: str, occurred: datetime, *, source: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": result.referral_id,
        "referral_request_id": result.referral_request_id,
        "advocate_customer_id": result.advocate_customer_id,
        "code": signup.code,
        "referee_email": signup.email,
        "referee_canonical": canonical,
        "referee_name": signup.name,
        "status": result.status.value,
        "review_reasons": list(result.reasons),
        "source": source,
        "created_at": occurred,
        "updated_at": now,
    }


def referral_response(referral_id: str, request_id: str, occurred_at: datetime) -> ResponseInput:
    """The ``referral`` response a counted sign-up is, on the advocate's request."""
    return ResponseInput(
        kind=ResponseKind.REFERRAL,
        occurred_at=occurred_at,
        source="referrals",
        referral_request_id=request_id,
        external_id=f"referral:{referral_id}",
        details={"referral_id": referral_id},
    )


def _audit_hold(session: Session, result: SignupResult, *, now: datetime) -> None:
    insert_audit(
        session,
        [
            {
                "at": now,
                "actor": "referrals",
                "action": "referral.held",
                "subject_type": "referral",
                "subject_id": result.referral_id,
                "details": {"reasons": list(result.reasons), "referral_request_id": result.referral_request_id},
            }
        ],
    )
