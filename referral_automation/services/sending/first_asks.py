"""The first ask: send every due referral request once, inside its customer's send window.

One batch is three short transactions around the provider call (``services.sending.claims`` and
``services.sending.deliver`` explain why): claim and lease, write the ``sending`` message rows, and
after the sender answered, record each message and its request. Through an idempotent sender
(the outbox) it is two: no ``sending`` rows, each message row written with its outcome.

- accepted: message ``sent`` with the provider's id; request ``sent``, first follow-up scheduled;
- refused for good (``PermanentDeliveryError``): both ``failed``, with the error;
- nothing accepted (``RetryableDeliveryError``): the request goes back to ``scheduled`` with a
  growing delay, and is ``failed`` after ``max_attempts``;
- unknown (``AmbiguousDeliveryError``): both stay ``sending`` until a provider event settles them
  or the reconcile window passes (``services.sending.deliver``);
- suppressed address or opted-out customer: request ``suppressed``, no message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.bulk import BulkUpdate
from referral_automation.email.message import EmailSender
from referral_automation.services.sending import store
from referral_automation.services.sending.claims import lease_first_asks
from referral_automation.services.sending.deliver import (
    Composer,
    DeliveryOptions,
    DeliveryReport,
    Outcome,
    Verdict,
    deliver,
    frozen_heap,
    read_evidence,
    record_messages,
)
from referral_automation.services.sending.follow_ups import FollowUpSchedule

SessionFactory = sessionmaker[Session]


@frozen_heap()
def send_batch(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    """Claim, send and record one batch of due first asks.

    The claim's transaction also reads what earlier runs left for its messages, and its jobs are
    built after the commit: on SQLite every send worker waits for that write lock.
    """
    with session_factory() as session, session.begin():
        claim = lease_first_asks(session, config=config, now=now, options=options)
        evidence = read_evidence(session, claim.message_keys())
    claim.build_jobs()
    report = DeliveryReport(
        batches=1, claimed=len(claim.jobs), rescheduled=claim.rescheduled, cancelled=claim.cancelled
    )
    if not claim.jobs:
        return report
    outcomes = deliver(
        session_factory, claim.jobs, sender=sender, composer=composer, now=now, options=options, evidence=evidence
    )
    record_first_asks(session_factory, outcomes, config=config, now=now)
    report.count(outcomes)
    return report


def record_first_asks(
    session_factory: SessionFactory, outcomes: list[Outcome], *, config: AppConfig, now: datetime
) -> None:
    """Step 5: message rows and requests of a batch, in one transaction."""
    schedule = FollowUpSchedule(config, now=now)
    updates = [_request_update(outcome, schedule=schedule, now=now) for outcome in outcomes]
    with session_factory() as session, session.begin():
        requests = BulkUpdate(session, store.requests_table, updates)  # prepared before the lock is taken
        record_messages(session, outcomes, actor="send", now=now)
        requests.run()


def _request_update(outcome: Outcome, *, schedule: FollowUpSchedule, now: datetime) -> dict[str, Any]:
    job, verdict = outcome.job, outcome.verdict
    released = {"id": job.request_id, "lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if verdict in (Verdict.SENT, Verdict.SETTLED):
        sent_at = outcome.sent_at or now
        following = schedule.next(job, first_sent_at=sent_at, done=0)
        return released | {
            "status": "sent", "sent_at": sent_at, "next_followup_at": following, "attempts": 0, "last_error": None,
        }  # fmt: skip
    if verdict is Verdict.FAILED:
        return released | {"status": "failed", "attempts": job.attempts + 1, "last_error": outcome.error}
    if verdict is Verdict.STOPPED:
        return released | {"status": "suppressed", "last_error": outcome.error}
    if verdict is Verdict.RETRY:
        return released | {
            "status": "scheduled", "scheduled_for": outcome.retry_at, "attempts": job.attempts + 1,
            "last_error": outcome.error,
        }  # fmt: skip
    if verdict is Verdict.AMBIGUOUS:
        return {"id": job.request_id, "lease_expires_at": outcome.retry_at, "attempts": job.attempts + 1,
                "last_error": outcome.error, "updated_at": now}  # fmt: skip
    return {"id": job.request_id, "lease_expires_at": outcome.retry_at, "updated_at": now}  # WAITING


def send_due(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions | None = None,
) -> DeliveryReport:
    """Every due first ask, batch after batch, until a claim finds nothing due."""
    options = options or DeliveryOptions()
    report = DeliveryReport()
    while True:
        batch = send_batch(session_factory, config=config, sender=sender, composer=composer, now=now, options=options)
        report.add(batch)
        if batch.claimed + batch.rescheduled + batch.cancelled == 0:
            return report
