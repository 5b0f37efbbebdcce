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
from referral_automation.db.bulk import BulkUpdate, bulk_update, insert_rows
from referral_automation.domain.delivery import DeliveryOptions, DeliveryOutcome, Verdict, message_writes
from referral_automation.domain.followups import FollowUpSchedule
from referral_automation.domain.statuses import RequestStatus
from referral_automation.email.message import EmailSender
from referral_automation.errors import SenderSetupError
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

    A sender that cannot build a request (``SenderSetupError``) sends nothing: its messages are
    recorded as given back (``Verdict.RELEASED``: due again, no attempt counted) and the batch then
    raises that error, so the run stops and says which setting to fix.

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
    try:
        record(step, session_factory, outcomes, config=config, now=now)
    except Exception as error:
        # The provider may have accepted these messages: whatever failed, settle them before the
        # error goes on, so nothing is sent twice.
        settle_accepted(step, session_factory, outcomes, error=error, now=now)
        raise
    report.count(outcomes)
    released = next((outcome for outcome in outcomes if outcome.verdict is Verdict.RELEASED), None)
    if released is not None:
        # Recorded first (the messages given back, nothing left ``sending``), then loud: every later
        # batch would fail the same way until the setting is fixed.
        raise SenderSetupError(released.error or "the sender cannot build a request")
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


def settle_accepted(
    step: SendStep, session_factory: SessionFactory, outcomes: list[DeliveryOutcome], *, error: Exception, now: datetime
) -> None:
    """After recording failed: mark the messages the provider accepted ``sent`` and their requests
    as sent, with nothing but values already known (no follow-up time: working one out may be
    what failed), so no later run sends them again. Their follow-ups are given up, and the
    request's ``last_error`` says why. Every other outcome is left to the lease and the reconcile
    window, with its attempt already counted (``deliver``)."""
    sent = [o for o in outcomes if o.verdict in (Verdict.SENT, Verdict.SETTLED)]
    if not sent:
        return
    note = f"recorded after an error, follow-ups given up: {type(error).__name__}: {error}"[:1000]
    inserts, updates = message_writes(sent)
    requests = [_settled(outcome, step, note=note, now=now) for outcome in sent]
    with session_factory() as session, session.begin():
        insert_rows(session, store.messages_table, inserts)
        bulk_update(session, store.messages_table, updates)
        bulk_update(session, store.requests_table, requests)


def _settled(outcome: DeliveryOutcome, step: SendStep, *, note: str, now: datetime) -> dict[str, Any]:
    job = outcome.job
    changes: dict[str, Any] = {"id": job.request_id, "lease_owner": None, "lease_expires_at": None}
    if job.step == 0:
        changes |= {"status": RequestStatus.SENT.value, "sent_at": outcome.sent_at or now}
    else:
        changes |= {"followups_sent": job.step}
    return changes | {"next_followup_at": None, "attempts": 0, "last_error": note, "updated_at": now}
