"""One referral request's whole story, for ``requests show``: who, why, which arm, who decided,
every message with its provider id, every response, the follow-ups and the audit trail.

Read-only, one transaction. The request is named by its id or a unique prefix of it
(``lookup.resolve_request_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import (
    AuditEntry,
    Customer,
    JourneyEvent,
    Message,
    Moment,
    ReferralRequest,
    Response,
    Suppression,
)
from referral_automation.services.inspection.lookup import resolve_request_id
from referral_automation.services.inspection.requests import RequestSummary, decisions_of, iso, request_summary


@dataclass(frozen=True, slots=True)
class CustomerView:
    """The customer as the request's story needs them: who, how to reach them, and whether one may."""

    customer_id: str
    name: str
    email: str
    company: str
    plan: str
    lifetime_value: Decimal
    timezone: str
    locale: str
    marketing_opt_in: bool
    #: Why the address is suppressed (``unsubscribed via sendgrid``), or None.
    suppression: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "email": self.email,
            "company": self.company,
            "plan": self.plan,
            "lifetime_value": str(self.lifetime_value),
            "timezone": self.timezone,
            "locale": self.locale,
            "marketing_opt_in": self.marketing_opt_in,
            "suppression": self.suppression,
        }


@dataclass(frozen=True, slots=True)
class MomentView:
    """The moment of truth a request came from, and the event that marked it (none for time rules)."""

    rule_id: str
    source_key: str
    occurred_at: datetime
    detected_at: datetime
    outcome: str
    event_id: str | None
    event_type: str | None
    properties: dict[str, Any]

    def what(self) -> str:
        """``nps_submitted (score 10)``; ``time-based`` for a time rule's moment."""
        if self.event_type is not None:
            shown = ", ".join(f"{key} {value}" for key, value in self.properties.items() if not isinstance(value, dict))
            return f"{self.event_type} ({shown})" if shown else self.event_type
        if self.source_key.startswith("time:"):
            return "time-based"
        return f"event {self.source_key} (no longer stored)"

    def words(self) -> str:
        """``nps_submitted (score 10) on 2026-03-03 14:00 UTC, rule nps_promoter``."""
        at = f"{self.occurred_at:%Y-%m-%d %H:%M} UTC"
        if self.event_type is None and self.source_key.startswith("time:"):
            return f"time-based rule {self.rule_id} came due on {at}"
        return f"{self.what()} on {at}, rule {self.rule_id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "occurred_at": iso(self.occurred_at),
            "detected_at": iso(self.detected_at),
            "outcome": self.outcome,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "properties": self.properties,
            "words": self.words(),
        }


@dataclass(frozen=True, slots=True)
class MessageView:
    """One email of the request (step 0 the first ask, then follow-ups)."""

    step: int
    status: str
    provider: str
    provider_message_id: str | None
    subject: str
    created_at: datetime
    sent_at: datetime | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "sequence_step": self.step,
            "status": self.status,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "subject": self.subject,
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ResponseView:
    """Something the customer (or the provider for them) did after a message."""

    kind: str
    occurred_at: datetime
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "occurred_at": iso(self.occurred_at), "source": self.source}


@dataclass(frozen=True, slots=True)
class AuditView:
    """One line of the audit trail: who did what, when, with its details."""

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "details": self.details,
        }


def audit_view(row: AuditEntry) -> AuditView:
    return AuditView(row.at, row.actor, row.action, row.subject_type, row.subject_id, dict(row.details or {}))


@dataclass(frozen=True, slots=True)
class RequestStory:
    """Everything known about one referral request."""

    request: RequestSummary
    customer: CustomerView
    moment: MomentView | None
    messages: tuple[MessageView, ...]
    responses: tuple[ResponseView, ...]
    audit: tuple[AuditView, ...]
    next_followup_at: datetime | None
    attempts: int
    last_error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.request.as_json(),
            "customer": self.customer.as_json(),
            "moment": None if self.moment is None else self.moment.as_json(),
            "messages": [message.as_json() for message in self.messages],
            "responses": [response.as_json() for response in self.responses],
            "next_followup_at": iso(self.next_followup_at),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "audit": [entry.as_json() for entry in self.audit],
        }


def request_story(session_factory: sessionmaker[Session], ref: str) -> RequestStory:
    """The story of the request ``ref`` names (its id, or a unique prefix of 8 characters or more)."""
    with session_factory() as session, session.begin():
        row = session.get_one(ReferralRequest, resolve_request_id(session, ref))
        customer = session.get_one(Customer, row.customer_id)
        return RequestStory(
            request=request_summary(row, decisions_of(session, [row.id]).get(row.id, ())),
            customer=customer_view(session, customer),
            moment=moment_view(session, row.moment_id),
            messages=tuple(_messages(session, row.id)),
            responses=tuple(_responses(session, row.id)),
            audit=tuple(audit_of(session, customer.customer_id, [row.id])),
            next_followup_at=row.next_followup_at,
            attempts=row.attempts,
            last_error=row.last_error,
        )


def customer_view(session: Session, customer: Customer) -> CustomerView:
    suppression = session.get(Suppression, customer.email.strip().casefold())
    return CustomerView(
        customer_id=customer.customer_id,
        name=" ".join(part for part in (customer.first_name, customer.last_name) if part),
        email=customer.email,
        company=customer.company,
        plan=customer.plan,
        lifetime_value=customer.lifetime_value,
        timezone=customer.timezone,
        locale=customer.locale,
        marketing_opt_in=customer.marketing_opt_in,
        suppression=None if suppression is None else suppression_words(suppression),
    )


def suppression_words(row: Suppression) -> str:
    """``unsubscribed via sendgrid on 2026-03-01``."""
    return f"{row.reason.replace('_', ' ')} via {row.source} on {row.created_at:%Y-%m-%d}"


def moment_view(session: Session, moment_id: str) -> MomentView | None:
    moment = session.get(Moment, moment_id)
    if moment is None:
        return None
    event = None if moment.event_seq is None else session.get(JourneyEvent, moment.event_seq)
    return MomentView(
        rule_id=moment.rule_id,
        source_key=moment.source_key,
        occurred_at=moment.occurred_at,
        detected_at=moment.detected_at,
        outcome=moment.outcome,
        event_id=None if event is None else event.event_id,
        event_type=None if event is None else event.type,
        properties={} if event is None else dict(event.properties or {}),
    )


def _messages(session: Session, request_id: str) -> list[MessageView]:
    query = select(Message).where(Message.referral_request_id == request_id).order_by(Message.sequence_step)
    return [
        MessageView(m.sequence_step, m.status, m.provider, m.provider_message_id, m.subject, m.created_at, m.sent_at,
                    m.error)
        for m in session.scalars(query)
    ]  # fmt: skip


def _responses(session: Session, request_id: str) -> list[ResponseView]:
    query = (
        select(Response.kind, Response.occurred_at, Response.source)
        .where(Response.referral_request_id == request_id)
        .order_by(Response.occurred_at, Response.id)
    )
    return [ResponseView(kind, at, source) for kind, at, source in session.execute(query)]


def audit_of(
    session: Session, customer_id: str, request_ids: Sequence[str], *, email: str | None = None
) -> list[AuditView]:
    """The audit lines about these requests, the customer (those naming another request left out)
    and, given ``email``, their address (suppressions added or removed by hand), oldest first."""
    subjects = [
        and_(AuditEntry.subject_type == "referral_request", AuditEntry.subject_id.in_(list(request_ids))),
        and_(AuditEntry.subject_type == "customer", AuditEntry.subject_id == customer_id),
    ]
    if email is not None:
        subjects.append(and_(AuditEntry.subject_type == "email", AuditEntry.subject_id == email.strip().casefold()))
    query = select(AuditEntry).where(or_(*subjects)).order_by(AuditEntry.at, AuditEntry.id)
    mentioned = {None, *request_ids}
    views = [audit_view(row) for row in session.scalars(query)]
    return [
        view
        for view in views
        if view.subject_type != "customer" or view.details.get("referral_request_id") in mentioned
    ]
