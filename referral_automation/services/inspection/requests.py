"""Referral requests as operators see them: what was asked, of whom, and every decision on it.

Read-only: ``requests list`` and the approval commands show these views; nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import ApprovalDecision, ReferralRequest
from referral_automation.db.sql import chunks
from referral_automation.domain.statuses import RequestStatus
from referral_automation.errors import ReferralAutomationError

REQUEST_STATUSES = tuple(status.value for status in RequestStatus)


class UnknownStatusError(ReferralAutomationError):
    """A status that no referral request can have."""


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with its UTC offset, or None: how times appear in ``--json`` output."""
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class DecisionView:
    """One decision on a request that needed approval (a person's, or ``system`` expiring it)."""

    decision: str
    decided_by: str
    decided_at: datetime
    note: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "note": self.note,
        }

    def summary(self) -> str:
        """``approved by Ada at 2026-03-04 10:00 UTC: looks good``."""
        text = f"{self.decision} by {self.decided_by} at {self.decided_at:%Y-%m-%d %H:%M} UTC"
        return f"{text}: {self.note}" if self.note else text


@dataclass(frozen=True, slots=True)
class RequestSummary:
    """A referral request with the decisions taken on it, oldest decision first."""

    id: str
    customer_id: str
    campaign: str
    status: str
    variant: str
    incentive: str
    code: str
    scheduled_for: datetime
    sent_at: datetime | None
    followups_sent: int
    approval_required: bool
    approval_reason: str | None
    approval_expires_at: datetime | None
    created_at: datetime
    decisions: tuple[DecisionView, ...] = field(default=())

    @property
    def last_decision(self) -> DecisionView | None:
        return self.decisions[-1] if self.decisions else None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "campaign": self.campaign,
            "status": self.status,
            "variant": self.variant,
            "incentive": self.incentive,
            "code": self.code,
            "scheduled_for": iso(self.scheduled_for),
            "sent_at": iso(self.sent_at),
            "followups_sent": self.followups_sent,
            "approval_required": self.approval_required,
            "approval_reason": self.approval_reason,
            "approval_expires_at": iso(self.approval_expires_at),
            "created_at": iso(self.created_at),
            "decisions": [decision.as_json() for decision in self.decisions],
        }


def list_requests(
    session_factory: sessionmaker[Session],
    *,
    status: str | None = None,
    customer_id: str | None = None,
    limit: int | None = None,
) -> list[RequestSummary]:
    """Referral requests, newest first, optionally of one status and/or one customer."""
    if status is not None and status not in REQUEST_STATUSES:
        raise UnknownStatusError(f"unknown status {status!r} (one of: {', '.join(REQUEST_STATUSES)})")
    with session_factory() as session, session.begin():
        return requests_of(session, status=status, customer_id=customer_id, limit=limit)


def requests_of(
    session: Session, *, status: str | None = None, customer_id: str | None = None, limit: int | None = None
) -> list[RequestSummary]:
    """``list_requests`` in the caller's transaction."""
    query = select(ReferralRequest).order_by(ReferralRequest.created_at.desc(), ReferralRequest.id.desc())
    if status is not None:
        query = query.where(ReferralRequest.status == status)
    if customer_id is not None:
        query = query.where(ReferralRequest.customer_id == customer_id)
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.scalars(query))
    decisions = decisions_of(session, [row.id for row in rows])
    return [request_summary(row, decisions.get(row.id, ())) for row in rows]


def decisions_of(session: Session, request_ids: Sequence[str]) -> dict[str, tuple[DecisionView, ...]]:
    """Every decision on these requests, oldest first, by request id (in the caller's transaction)."""
    found: dict[str, list[DecisionView]] = defaultdict(list)
    for chunk in chunks(request_ids):
        query = (
            select(ApprovalDecision)
            .where(ApprovalDecision.referral_request_id.in_(chunk))
            .order_by(ApprovalDecision.decided_at, ApprovalDecision.id)
        )
        for row in session.scalars(query):
            found[row.referral_request_id].append(DecisionView(row.decision, row.decided_by, row.decided_at, row.note))
    return {key: tuple(value) for key, value in found.items()}


def request_summary(row: ReferralRequest, decisions: Sequence[DecisionView] = ()) -> RequestSummary:
    return RequestSummary(
        id=row.id,
        customer_id=row.customer_id,
        campaign=row.campaign,
        status=row.status,
        variant=row.variant,
        incentive=row.incentive,
        code=row.code,
        scheduled_for=row.scheduled_for,
        sent_at=row.sent_at,
        followups_sent=row.followups_sent,
        approval_required=row.approval_required,
        approval_reason=row.approval_reason,
        approval_expires_at=row.approval_expires_at,
        created_at=row.created_at,
        decisions=tuple(decisions),
    )
