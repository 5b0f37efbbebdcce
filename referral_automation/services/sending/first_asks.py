"""The first ask: send every due referral request once, inside its customer's send window.

One batch is three short transactions around the provider call (``claims`` and ``deliver`` explain
why): claim and lease, write the ``sending`` message rows, and after the sender answered, record
each message and its request. Through an idempotent sender (the outbox) it is two: no ``sending``
rows, each message row written with its outcome. What each outcome does to the request
(``domain.delivery.first_ask_update``):

- accepted: message ``sent`` with the provider's id; request ``sent``, first follow-up scheduled;
- refused for good (``PermanentDeliveryError``): both ``failed``, with the error;
- nothing accepted (``RetryableDeliveryError``): the request goes back to ``scheduled`` with a
  growing delay, and is ``failed`` after ``max_attempts``;
- unknown (``AmbiguousDeliveryError``): both stay ``sending`` until a provider event settles them
  or the reconcile window passes;
- suppressed address or opted-out customer: request ``suppressed``, no message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.bulk import BulkUpdate
from referral_automation.domain.delivery import DeliveryOptions, DeliveryOutcome, first_ask_update
from referral_automation.domain.followups import FollowUpSchedule
from referral_automation.email.message import EmailSender
from referral_automation.services.sending import store
from referral_automation.services.sending.batches import DeliveryReport, until_idle
from referral_automation.services.sending.claims import lease_first_asks
from referral_automation.services.sending.deliver import Composer, deliver, read_evidence, record_messages

SessionFactory = sessionmaker[Session]


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
    session_factory: SessionFactory, outcomes: list[DeliveryOutcome], *, config: AppConfig, now: datetime
) -> None:
    """Step 5: message rows and requests of a batch, in one transaction."""
    schedule = FollowUpSchedule(config, now=now)
    updates = [first_ask_update(outcome, schedule=schedule, now=now) for outcome in outcomes]
    with session_factory() as session, session.begin():
        requests = BulkUpdate(session, store.requests_table, updates)  # prepared before the lock is taken
        record_messages(session, outcomes, actor="send", now=now)
        requests.run()


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
    return until_idle(
        lambda: send_batch(session_factory, config=config, sender=sender, composer=composer, now=now, options=options)
    )
