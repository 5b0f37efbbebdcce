"""Approvals: a person decides on referral requests to important customers before they go out.

A request for such a customer waits in ``pending_approval`` until someone approves it (it becomes
``approved`` and is scheduled at the next opening of its campaign's send window, in the customer's
time zone), rejects it, or lets it expire (``approval_expires_at``). Each decision is stored with
who, when and why, and audited, in the same transaction as the status change. The request's row is
locked while deciding (``FOR UPDATE`` on PostgreSQL; SQLite admits one writer at a time), so two
people deciding at once produce one decision and one clear refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.models import ApprovalDecision, AuditEntry, Customer, ReferralRequest
from referral_automation.db.session import is_postgres
from referral_automation.domain.sendwindow import next_opening, resolve_zone
from referral_automation.domain.statuses import Decision, RequestStatus
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.inspection.lookup import resolve_request_id
from referral_automation.services.inspection.requests import iso

PENDING = RequestStatus.PENDING_APPROVAL
#: Who expires requests nobody decided on.
SYSTEM = "system"


class ApprovalError(ReferralAutomationError):
    """A decision that cannot be taken: not pending, expired, no campaign (an unknown or ambiguous
    id is ``inspection.lookup.NotFoundError``)."""


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """A request waiting for a decision, with what the approver needs to know of its customer."""

    id: str
    customer_id: str
    customer_name: str
    company: str
    plan: str
    lifetime_value: Decimal
    reason: str | None
    campaign: str
    variant: str
    incentive: str
    created_at: datetime
    expires_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "company": self.company,
            "plan": self.plan,
            "lifetime_value": float(self.lifetime_value),
            "reason": self.reason,
            "campaign": self.campaign,
            "variant": self.variant,
            "incentive": self.incentive,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "overdue": self.overdue(now),
        }


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What a decision did: the request's new status and, once approved, when it will be sent."""

    request_id: str
    customer_id: str
    campaign: str
    decision: Decision
    status: RequestStatus
    decided_by: str
    decided_at: datetime
    note: str | None
    scheduled_for: datetime | None = None
    #: The customer's time zone was unknown and the send window was read in UTC.
    zone_warning: str | None = None


def list_pending(session_factory: sessionmaker[Session]) -> list[PendingApproval]:
    """Requests waiting for a decision, the soonest to expire first."""
    query = (
        select(ReferralRequest, Customer)
        .join(Customer, Customer.customer_id == ReferralRequest.customer_id)
        .where(ReferralRequest.status == PENDING)
        .order_by(ReferralRequest.approval_expires_at, ReferralRequest.created_at, ReferralRequest.id)
    )
    with session_factory() as session, session.begin():
        rows = session.execute(query).tuples().all()
    return [
        PendingApproval(
            id=request.id,
            customer_id=customer.customer_id,
            customer_name=" ".join(part for part in (customer.first_name, customer.last_name) if part),
            company=customer.company,
            plan=customer.plan,
            lifetime_value=customer.lifetime_value,
            reason=request.approval_reason,
            campaign=request.campaign,
            variant=request.variant,
            incentive=request.incentive,
            created_at=request.created_at,
            expires_at=request.approval_expires_at,
        )
        for request, customer in rows
    ]


def approve(
    session_factory: sessionmaker[Session],
    *,
    request_ref: str,
    by: str,
    note: str | None = None,
    now: datetime,
    config: AppConfig,
) -> DecisionResult:
    """Approve a pending request and schedule it at its send window's next opening at or after ``now``."""
    return _decide(
        session_factory, request_ref=request_ref, decision=Decision.APPROVED, by=by, note=note, now=now, config=config
    )


def reject(
    session_factory: sessionmaker[Session], *, request_ref: str, by: str, note: str | None = None, now: datetime
) -> DecisionResult:
    """Reject a pending request: it is never sent."""
    return _decide(
        session_factory, request_ref=request_ref, decision=Decision.REJECTED, by=by, note=note, now=now, config=None
    )


def _decide(
    session_factory: sessionmaker[Session],
    *,
    request_ref: str,
    decision: Decision,
    by: str,
    note: str | None,
    now: datetime,
    config: AppConfig | None,
) -> DecisionResult:
    by, note = by.strip(), (note.strip() or None) if note else None
    if not by:
        raise ApprovalError("say who decides (--by NAME)")
    with session_factory() as session, session.begin():
        request = _locked(session, resolve_request_id(session, request_ref))
        if request.status != PENDING:
            raise ApprovalError(f"request {request.id} is {request.status}, not pending approval")
        expires_at = request.approval_expires_at
        if expires_at is None or expires_at > now:
            return _apply(session, request, decision=decision, by=by, note=note, now=now, config=config)
        # Committed, not rolled back: the request is expired whatever the caller does next.
        _expire(session, [(request.id, expires_at)], now=now)
    raise ApprovalError(
        f"request {request.id} expired at {expires_at:%Y-%m-%d %H:%M} UTC without a decision; it is now expired"
    )


def _locked(session: Session, request_id: str) -> ReferralRequest:
    """The request's row, locked until the transaction ends (a concurrent decision waits, then sees ours)."""
    query = select(ReferralRequest).where(ReferralRequest.id == request_id).with_for_update()
    return session.scalars(query, execution_options={"populate_existing": True}).one()


def _apply(
    session: Session,
    request: ReferralRequest,
    *,
    decision: Decision,
    by: str,
    note: str | None,
    now: datetime,
    config: AppConfig | None,
) -> DecisionResult:
    scheduled_for, warning = None, None
    if decision is Decision.APPROVED:
        assert config is not None
        scheduled_for, warning = _next_send_time(session, request, config, now=now)
        request.scheduled_for = scheduled_for
    request.status = RequestStatus(decision.value).value
    request.updated_at = now
    session.add(
        ApprovalDecision(
            referral_request_id=request.id, decision=decision.value, decided_by=by, decided_at=now, note=note
        )
    )
    details = {"note": note, "scheduled_for": iso(scheduled_for), "zone_warning": warning}
    session.add(_audit(request.id, decision.value, actor=by, now=now, details=details))
    return DecisionResult(
        request_id=request.id,
        customer_id=request.customer_id,
        campaign=request.campaign,
        decision=decision,
        status=RequestStatus(decision.value),
        decided_by=by,
        decided_at=now,
        note=note,
        scheduled_for=scheduled_for,
        zone_warning=warning,
    )


def _next_send_time(
    session: Session, request: ReferralRequest, config: AppConfig, *, now: datetime
) -> tuple[datetime, str | None]:
    """The campaign's send window's next opening at or after ``now`` in the customer's zone, and any zone warning."""
    campaign = config.campaigns.campaigns.get(request.campaign)
    if campaign is None:
        raise ApprovalError(f"request {request.id} belongs to campaign {request.campaign!r}, which is not configured")
    customer = session.get(Customer, request.customer_id)
    zone, warning = resolve_zone(customer.timezone if customer else None)
    return next_opening(now, zone, campaign.send_window), warning


def _audit(request_id: str, decision: str, *, actor: str, now: datetime, details: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=now,
        actor=actor,
        action=f"approval_{decision}",
        subject_type="referral_request",
        subject_id=request_id,
        details={key: value for key, value in details.items() if value is not None},
    )


def expire_overdue_approvals(session_factory: sessionmaker[Session], *, now: datetime, batch_size: int = 1000) -> int:
    """Mark every pending request whose approval window closed by ``now`` as ``expired``; how many were."""
    total = 0
    while True:
        with session_factory() as session, session.begin():
            query = (
                select(ReferralRequest.id, ReferralRequest.approval_expires_at)
                .where(ReferralRequest.status == PENDING, ReferralRequest.approval_expires_at <= now)
                .order_by(ReferralRequest.approval_expires_at, ReferralRequest.id)
                .limit(batch_size)
            )
            if is_postgres(session):  # a request someone is deciding on right now is theirs
                query = query.with_for_update(skip_locked=True)
            rows = [(row.id, row.approval_expires_at) for row in session.execute(query)]
            _expire(session, rows, now=now)
        total += len(rows)
        if len(rows) < batch_size:
            return total


def _expire(session: Session, rows: Sequence[tuple[str, datetime | None]], *, now: datetime) -> None:
    """Expire locked pending requests, each with a ``system`` decision and an audit entry."""
    if not rows:
        return
    ids = [request_id for request_id, _ in rows]
    session.execute(
        update(ReferralRequest)
        .where(ReferralRequest.id.in_(ids), ReferralRequest.status == PENDING)
        .values(status=RequestStatus.EXPIRED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    notes = {
        request_id: f"no decision by {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "no decision"
        for request_id, expires_at in rows
    }
    session.execute(
        insert(ApprovalDecision),
        [
            {
                "referral_request_id": i,
                "decision": Decision.EXPIRED.value,
                "decided_by": SYSTEM,
                "decided_at": now,
                "note": notes[i],
            }
            for i in ids
        ],
    )
    session.execute(
        insert(AuditEntry),
        [
            {
                "at": now,
                "actor": SYSTEM,
                "action": "approval_expired",
                "subject_type": "referral_request",
                "subject_id": i,
                "details": {"note": notes[i]},
            }
            for i in ids
        ],
    )
