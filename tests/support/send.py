"""Hand-built requests, a fake composer and fake senders for the send, follow-up and response tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, load_config
from referral_automation.db.models import AuditEntry, Customer, JourneyEvent, Message, Moment, ReferralRequest
from referral_automation.domain import identity
from referral_automation.domain.delivery import DeliveryOptions, Job
from referral_automation.email.message import EmailSender, OutgoingEmail, SendOutcome, SendResult
from referral_automation.errors import DeliveryError
from referral_automation.services.sending.batches import DeliveryReport
from referral_automation.services.sending.deliver import Composer
from referral_automation.services.sending.first_asks import send_due
from tests.support import ROOT

#: A Wednesday, 10:00 UTC: inside the send window in Europe (11:00 in Berlin) and in UTC.
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
OPTIONS = DeliveryOptions(batch_size=50, worker="test-worker")

_ids = itertools.count(1)
Factory = sessionmaker[Session]


def shipped_config() -> AppConfig:
    return load_config(ROOT / "config")


def add_customer(
    factory: Factory,
    customer_id: str,
    *,
    timezone: str = "Europe/Berlin",
    opt_in: bool = True,
    email: str | None = None,
    plan: str = "pro",
) -> str:
    with factory() as session, session.begin():
        session.execute(
            insert(Customer),
            {
                "customer_id": customer_id,
                "email": email or f"{customer_id}@example.com",
                "first_name": customer_id.title(),
                "last_name": "Tester",
                "company": "Acme",
                "plan": plan,
                "lifetime_value": Decimal(1200),
                "first_purchase_at": NOW - timedelta(days=365),
                "timezone": timezone,
                "locale": "en",
                "marketing_opt_in": opt_in,
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
    return customer_id


def add_request(
    factory: Factory,
    customer_id: str,
    *,
    status: str = "scheduled",
    scheduled_for: datetime = NOW,
    campaign: str = "customer_referral",
    **columns: Any,
) -> str:
    """A referral request (with its moment and event) for ``customer_id``; its id is returned."""
    n = next(_ids)
    event_id = f"ev-send-{n}"
    moment = identity.moment_id(customer_id, "nps_promoter", event_id)
    request = identity.request_id(moment)
    with factory() as session, session.begin():
        session.execute(
            insert(JourneyEvent),
            {
                "event_id": event_id,
                "customer_id": customer_id,
                "type": "nps_submitted",
                "occurred_at": scheduled_for - timedelta(hours=1),
                "properties": {"score": 10},
                "ingested_at": scheduled_for,
            },
        )
        seq = session.execute(select(JourneyEvent.seq).where(JourneyEvent.event_id == event_id)).scalar_one()
        session.execute(
            insert(Moment),
            {
                "id": moment,
                "customer_id": customer_id,
                "rule_id": "nps_promoter",
                "source_key": event_id,
                "event_seq": seq,
                "occurred_at": scheduled_for - timedelta(hours=1),
                "detected_at": scheduled_for,
                "priority": 30,
                "campaign": campaign,
                "outcome": "requested",
            },
        )
        session.execute(
            insert(ReferralRequest),
            {
                "id": request,
                "customer_id": customer_id,
                "moment_id": moment,
                "campaign": campaign,
                "variant": "gratitude",
                "incentive": "give50_get50",
                "code": f"code{n:08d}",
                "unsubscribe_token": f"unsub{n:08d}",
                "status": status,
                "approval_required": status in ("pending_approval", "approved", "rejected", "expired"),
                "scheduled_for": scheduled_for,
                "created_at": scheduled_for - timedelta(minutes=5),
                "updated_at": scheduled_for - timedelta(minutes=5),
                **columns,
            },
        )
    return request


def fake_composer(job: Job) -> OutgoingEmail:
    """A plain message carrying what the send service must pass on (ids, step, arm, links)."""
    return OutgoingEmail(
        message_id=job.message_id,
        referral_request_id=job.request_id,
        sequence_step=job.step,
        campaign=job.campaign,
        variant=job.variant,
        incentive=job.incentive,
        to_email=job.customer.email,
        to_name=job.customer.first_name,
        from_email="referrals@example.com",
        from_name="Acme",
        reply_to_email=None,
        reply_to_name=None,
        subject=f"Step {job.step} for {job.customer.first_name}",
        html=f"<p>https://example.com/r/{job.code}</p>",
        text=f"https://example.com/r/{job.code}",
        headers={"List-Unsubscribe": f"<https://example.com/u/{job.unsubscribe_token}>"},
    )


def send_first_asks(
    factory: Factory,
    sender: EmailSender,
    *,
    now: datetime = NOW,
    options: DeliveryOptions = OPTIONS,
    composer: Composer = fake_composer,
) -> DeliveryReport:
    """The send service to the end with the shipped configuration (the fake composer unless told)."""
    return send_due(factory, config=shipped_config(), sender=sender, composer=composer, now=now, options=options)


@dataclass
class FakeSender:
    """A sender that records what it was handed; ``script`` decides each message's fate.

    Not idempotent unless told: like SendGrid, every call it accepts is another email.
    """

    name: str = "fake"
    idempotent: bool = False
    script: Callable[[OutgoingEmail], SendOutcome | None] | None = None
    handed: list[OutgoingEmail] = field(default_factory=list)

    def send(self, email: OutgoingEmail) -> SendResult:
        outcome = self.send_many([email])[0]
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def send_many(self, emails: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        outcomes: list[SendOutcome] = []
        for email in emails:
            self.handed.append(email)
            outcome = self.script(email) if self.script else None
            outcomes.append(outcome or SendResult(self.name, f"fake-{email.message_id}"))
        return outcomes

    def steps_for(self, request_id: str) -> list[int]:
        return [email.sequence_step for email in self.handed if email.referral_request_id == request_id]


def request_row(factory: Factory, request_id: str) -> ReferralRequest:
    with factory() as session:
        row = session.get(ReferralRequest, request_id)
        assert row is not None
        return row


def messages_of(factory: Factory, request_id: str) -> list[Message]:
    with factory() as session:
        query = select(Message).where(Message.referral_request_id == request_id).order_by(Message.sequence_step)
        return list(session.execute(query).scalars())


def audit_actions(factory: Factory, action: str) -> list[AuditEntry]:
    with factory() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def at_local(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in ``zone``, as aware UTC."""
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@contextmanager
def transactions_begun(factory: sessionmaker[Session]) -> Iterator[list[object]]:
    """The connections that begin a transaction while the block runs: one entry per transaction
    (on SQLite, each is a turn of the write lock the other send workers wait for)."""
    begun: list[object] = []

    def count(connection: object) -> None:
        begun.append(connection)

    engine = factory.kw["bind"]
    event.listen(engine, "begin", count)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", count)


BERLIN = "Europe/Berlin"
#: NOW is Wednesday 11:00 in Berlin; +3 days is Saturday, so the first follow-up is Monday 09:00.
FIRST_FOLLOW_UP = at_local(BERLIN, 2026, 3, 9, 9)
#: +7 days is the next Wednesday at 11:00, inside the window.
SECOND_FOLLOW_UP = at_local(BERLIN, 2026, 3, 11, 11)


def sent_request(
    factory: Factory, sender: EmailSender, customer_id: str = "ann", config: AppConfig | None = None
) -> str:
    """A request whose first ask went out at NOW."""
    add_customer(factory, customer_id, timezone=BERLIN)
    request_id = add_request(factory, customer_id)
    send_due(
        factory, config=config or shipped_config(), sender=sender, composer=fake_composer, now=NOW, options=OPTIONS
    )
    assert request_row(factory, request_id).status == "sent"
    return request_id
