"""The reward ledger over time: pending rewards are issued once their refund window has passed, a
refund inside the window cancels them, and the ledger can be listed for payout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Referral, RewardEntry
from referral_automation.db.shared import insert_audit
from referral_automation.domain.referees import canonical_email
from referral_automation.domain.rewards import RewardStatus
from referral_automation.errors import NotFoundError


def issue_due_rewards(session_factory: sessionmaker[Session], *, now: datetime) -> int:
    """Move every pending reward whose refund window ended by ``now`` to ``issued``; how many."""
    statement = (
        update(RewardEntry)
        .where(RewardEntry.status == RewardStatus.PENDING.value, RewardEntry.issue_after <= now)
        .values(status=RewardStatus.ISSUED.value, issued_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    with session_factory() as session, session.begin():
        return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def cancel_rewards(
    session_factory: sessionmaker[Session], referee_email: str, *, by: str, note: str | None, now: datetime
) -> int:
    """Cancel the pending rewards of the referral of ``referee_email`` (the purchase was refunded);
    issued rewards stay issued. How many were cancelled."""
    canonical = canonical_email(referee_email)
    with session_factory() as session, session.begin():
        referral_id = session.execute(select(Referral.id).where(Referral.referee_canonical == canonical)).scalar()
        if referral_id is None:
            raise NotFoundError(f"{referee_email} never signed up with a referral code")
        statement = (
            update(RewardEntry)
            .where(RewardEntry.referral_id == referral_id, RewardEntry.status == RewardStatus.PENDING.value)
            .values(status=RewardStatus.CANCELLED.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        cancelled = int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
        insert_audit(
            session,
            [{"at": now, "actor": by, "action": "rewards.cancelled", "subject_type": "referral",
              "subject_id": referral_id, "details": {"note": note, "cancelled": cancelled}}],
        )  # fmt: skip
        return cancelled


def list_rewards(
    session_factory: sessionmaker[Session], *, status: RewardStatus | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Ledger lines, the soonest to be issued first."""
    query = select(RewardEntry).order_by(RewardEntry.issue_after, RewardEntry.id).limit(limit)
    if status is not None:
        query = query.where(RewardEntry.status == status.value)
    with session_factory() as session:
        return [
            {
                "reward_id": r.id,
                "referral_id": r.referral_id,
                "side": r.side,
                "recipient": r.recipient,
                "kind": r.kind,
                "value": str(r.value),
                "currency": r.currency,
                "status": r.status,
                "issue_after": r.issue_after.isoformat(),
                "issued_at": r.issued_at.isoformat() if r.issued_at else None,
            }
            for r in session.execute(query).scalars()
        ]
