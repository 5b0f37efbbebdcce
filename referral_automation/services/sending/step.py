"""One claim-send-record batch, the same for the first ask and the follow-ups.

A batch is the protocol of ``deliver`` between two transactions: the claim (leases, and the
evidence of what earlier runs left for its messages, read in the same transaction), then, once
the sender answered, the record of every message and its request. A step differs only in what it
claims (``claims.lease_first_asks`` or ``claims.lease_follow_ups``), in what an outcome does to
the request (``domain.delivery.first_ask_update`` or ``follow_up_update``), and in the name its
audit lines carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.bulk import BulkUpdate
from referral_automation.domain.delivery import DeliveryOptions, DeliveryOutcome
from referral_automation.domain.followups import FollowUpSchedule
from referral_automation.email.message import EmailSender
from referral_automation.services.sending import store
from referral_automation.services.sending.batches import DeliveryReport
from referral_automation.services.sending.claims import Claim
from referral_automation.services.sending.deliver import Composer, deliver, read_evidence, record_messages

SessionFactory = sessionmaker[Session]


@dataclass(frozen=True, slots=True)
class SendStep:
    """What tells one kind of message from another: its claim, its request update, its actor."""

    lease: Callable[..., Claim]
    update: Callable[..., dict[str, Any]]
    actor: str


def run_batch(
    step: SendStep,
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    """Claim, send and record one batch of ``step``'s due messages.

    The claim's transaction also reads what earlier runs left for its messages, and its jobs are
    built after the commit: on SQLite every send worker waits for that write lock.
    """
    with session_factory() as session, session.begin():
        claim = step.lease(session, config=config, now=now, options=options)
        evidence = read_evidence(session, claim.message_keys())
    claim.build_jobs()
    report = DeliveryReport(
        batches=1,
        claimed=len(claim.jobs),
        rescheduled=claim.rescheduled,
        cancelled=claim.cancelled,
        finished=claim.finished,
    )
    if not claim.jobs:
        return report
    outcomes = deliver(
        session_factory, claim.jobs, sender=sender, composer=composer, now=now, options=options, evidence=evidence
    )
    record(step, session_factory, outcomes, config=config, now=now)
    report.count(outcomes)
    return report


def record(
    step: SendStep,
    session_factory: SessionFactory,
    outcomes: list[DeliveryOutcome],
    *,
    config: AppConfig,
    now: datetime,
) -> None:
    """Message rows and requests of a batch, in one transaction."""
    schedule = FollowUpSchedule(config, now=now)
    updates = [step.update(outcome, schedule=schedule, now=now) for outcome in outcomes]
    with session_factory() as session, session.begin():
        requests = BulkUpdate(session, store.requests_table, updates)  # prepared before the lock is taken
        record_messages(session, outcomes, actor=step.actor, now=now)
        requests.run()
