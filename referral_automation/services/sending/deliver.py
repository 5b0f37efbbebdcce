"""The message-row-first protocol both the first ask and the follow-ups go through.

For each claimed job (one request, one sequence step) the order is always:

1. look for the message row of (request, step): a ``sent`` or ``failed`` row settles the job
   without a send; a ``sending`` row means an earlier run crashed or got no answer from the
   provider. That one is settled by a provider response (``ACCEPTED_BY_PROVIDER``) if one was
   recorded, else re-sent at once only by an idempotent sender (the outbox: same message id, same
   file), else after the reconcile window with no response;
2. check consent again (suppressed, opted out) and whether the customer already responded;
3. render, then write the ``sending`` row (subject, content hash, provider) and commit;
4. hand the batch to the sender;
5. return each job's ``DeliveryOutcome``; the caller records it together with its request update.

So a crash anywhere leaves a row that says what may have happened, and no path sends a message
whose earlier send may have been accepted, except through an idempotent sender. A message row's
``created_at`` is the time of its latest hand-over, so the reconcile window always counts from
the attempt that may have reached the provider. The decisions themselves (which outcome, which
row changes) are ``domain.delivery``'s; this module does the reading, rendering and handing over.

An idempotent sender (the outbox) skips step 3: sending its message again is harmless (same
message id, same file), so there is nothing for a ``sending`` row to guard. Its row is written
once, with its outcome, in step 5 (``DeliveryOutcome.row``): the same row as the two writes would
leave, for one transaction and one write of every message row fewer a batch. A crash after such a
send leaves the request ``sending`` under its lease and no message row; once the lease runs out
the request is claimed again, rendered under the same message id, and the outbox finds its file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.bulk import BulkUpdate, bulk_update, insert_rows
from referral_automation.db.shared import insert_audit
from referral_automation.domain.delivery import (
    DeliveryOptions,
    DeliveryOutcome,
    Evidence,
    Job,
    Verdict,
    accepted,
    cannot_render,
    known_outcome,
    message_writes,
    not_accepted,
    reused,
)
from referral_automation.domain.statuses import MessageStatus
from referral_automation.email.message import EmailSender, OutgoingEmail, Reconciling, SendResult
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.sending import store

SessionFactory = sessionmaker[Session]
#: Turns a job into a rendered message (``TemplateComposer`` in production, fakes in tests).
Composer = Callable[[Job], OutgoingEmail]


@dataclass(slots=True)
class _Plan:
    """What steps 1 and 2 decided: outcomes already known, jobs to render and send."""

    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    to_send: list[Job] = field(default_factory=list)
    #: Message ids whose ``sending``/``retry`` row is reused for this send.
    existing: set[str] = field(default_factory=set)


def read_evidence(session: Session, messages: Sequence[tuple[str, str, int]]) -> Evidence:
    """The ``Evidence`` of (message id, request id, step) ``messages``.

    A claim reads it in its own transaction (``send_batch``): one turn of SQLite's write lock
    fewer per batch, and nothing but this worker touches its leased requests' messages.
    """
    rows = store.message_rows(session, [message_id for message_id, _, _ in messages])
    pending = [message for message in messages if rows.get(message[0], {}).get("status") == MessageStatus.SENDING]
    return Evidence(rows, store.accepted_by_provider(session, pending) if pending else {})


def deliver(
    session_factory: SessionFactory,
    jobs: Sequence[Job],
    *,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
    evidence: Evidence | None = None,
) -> list[DeliveryOutcome]:
    """Steps 1–4 of the protocol for a batch of claimed jobs; the caller records the outcomes.

    ``evidence`` is step 1's reading when the claim did it already, else it is read here.
    """
    if evidence is None:
        with session_factory() as session, session.begin():
            evidence = read_evidence(session, [(job.message_id, job.request_id, job.step) for job in jobs])
    if isinstance(sender, Reconciling):
        evidence = ask_provider(sender, jobs, evidence, provider=sender.name, now=now, options=options)
    plan = _plan(jobs, evidence, sender=sender, now=now, options=options)
    outcomes = list(plan.outcomes)
    emails, sending, unrenderable = _compose(plan, composer)
    outcomes += [cannot_render(job, reason, has_row=job.message_id in plan.existing) for job, reason in unrenderable]
    if not emails:
        return outcomes
    rows = sending_rows(emails, sender=sender, now=now)
    if not sender.idempotent:
        with session_factory() as session, session.begin():
            _write_sending_rows(session, rows, existing=plan.existing, attempts=sending)
    results = sender.send_many(emails)
    for job, result, row in zip(sending, results, rows, strict=True):
        if isinstance(result, SendResult):
            outcome = accepted(job, result.provider_message_id, now=now)
        else:
            outcome = not_accepted(job, result, now=now, options=options, idempotent=sender.idempotent)
        if sender.idempotent:
            outcome = replace(outcome, row=row, has_row=job.message_id in plan.existing)
        outcomes.append(outcome)
    return outcomes


def ask_provider(
    sender: Reconciling,
    jobs: Sequence[Job],
    evidence: Evidence,
    *,
    provider: str,
    now: datetime,
    options: DeliveryOptions,
) -> Evidence:
    """Ask the provider about sends that went unanswered and are past their reconcile window (they
    would be sent again now): those it holds are settled, those it does not may be sent again, and
    those it could not tell about wait (``Evidence.unconfirmed``)."""
    overdue = [
        (job.message_id, job.request_id, job.step)
        for job in jobs
        if (row := evidence.rows.get(job.message_id))
        and row["status"] == MessageStatus.SENDING
        and row["provider"] == provider
        and row["created_at"] + options.reconcile_after <= now
        and job.message_id not in evidence.accepted
    ]
    if not overdue:
        return evidence
    answer = sender.look_up(overdue)
    if answer is None:
        return evidence
    unknown = {message_id for message_id, _, _ in overdue} - answer.absent - answer.accepted.keys()
    return replace(evidence, accepted={**evidence.accepted, **answer.accepted}, unconfirmed=frozenset(unknown))


def _compose(plan: _Plan, composer: Composer) -> tuple[list[OutgoingEmail], list[Job], list[tuple[Job, str]]]:
    """The emails of the jobs to send, and the jobs whose email cannot be rendered with why.

    A template error, a campaign or variant no longer configured, an address that is no mailbox:
    that one request fails with the reason, and the rest of the batch goes on. Retrying would
    render the same error again, and a request left ``sending`` would come back after every lease.
    """
    emails: list[OutgoingEmail] = []
    sending: list[Job] = []
    unrenderable: list[tuple[Job, str]] = []
    for job in plan.to_send:
        try:
            emails.append(composer(job))
        except ReferralAutomationError as error:
            unrenderable.append((job, str(error)))
        else:
            sending.append(job)
    return emails, sending, unrenderable


def _plan(
    jobs: Sequence[Job], evidence: Evidence, *, sender: EmailSender, now: datetime, options: DeliveryOptions
) -> _Plan:
    """Steps 1 and 2: settle what earlier runs left, stop what may not be sent, keep the rest."""
    plan = _Plan()
    idempotent_provider = sender.name if sender.idempotent else None
    for job in jobs:
        row = evidence.rows.get(job.message_id, {})
        known = known_outcome(
            job,
            row,
            evidence.accepted,
            unconfirmed=evidence.unconfirmed,
            idempotent_provider=idempotent_provider,
            now=now,
            options=options,
        )
        if known is not None:
            plan.outcomes.append(known)
            continue
        plan.to_send.append(job)
        if row:
            plan.existing.add(job.message_id)
    return plan


def content_hash(email: OutgoingEmail) -> str:
    """What was sent, in 64 hex characters: subject, HTML and text."""
    digest = hashlib.sha256(email.subject.encode("utf-8"))
    for part in (email.html, email.text):
        digest.update(b"\x00")
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def sending_rows(emails: Sequence[OutgoingEmail], *, sender: EmailSender, now: datetime) -> list[dict[str, Any]]:
    """Step 3's message rows: ``sending`` through ``sender``, handed over ``now``."""
    return [
        {
            "id": email.message_id,
            "referral_request_id": email.referral_request_id,
            "sequence_step": email.sequence_step,
            "status": MessageStatus.SENDING.value,
            "provider": sender.name,
            "subject": email.subject,
            "content_hash": content_hash(email),
            "created_at": now,
            "error": None,
        }
        for email in emails
    ]


def _write_sending_rows(
    session: Session, rows: Sequence[dict[str, Any]], *, existing: set[str], attempts: Sequence[Job]
) -> None:
    """Step 3: the ``sending`` rows, committed before the provider hears of the messages, with each
    request's attempt counted in the same transaction.

    Counted here, not when the outcome is recorded: if recording fails after the provider accepted
    (or the worker dies), the attempt still counts, so ``max_attempts`` bounds the re-sends of a
    message whose fate nobody could record. The record writes the same count (``attempts + 1``).
    """
    insert_rows(session, store.messages_table, [row for row in rows if row["id"] not in existing])
    # A row reused for another attempt: its created_at becomes this attempt's time (the reconcile clock).
    bulk_update(session, store.messages_table, [reused(row) for row in rows if row["id"] in existing])
    bulk_update(
        session, store.requests_table, [{"id": job.request_id, "attempts": job.attempts + 1} for job in attempts]
    )


def record_messages(session: Session, outcomes: Sequence[DeliveryOutcome], *, actor: str, now: datetime) -> None:
    """Message rows and time-zone warnings of a batch, in the caller's transaction."""
    inserts, changes = message_writes(outcomes)
    updates = BulkUpdate(session, store.messages_table, changes)  # prepared before the lock is taken
    insert_rows(session, store.messages_table, inserts)
    updates.run()
    audits = [_zone_audit(outcome, actor=actor, now=now) for outcome in outcomes if _warns(outcome)]
    audits += [_render_audit(outcome, actor=actor, now=now) for outcome in outcomes if outcome.unrenderable]
    insert_audit(session, audits)


def _warns(outcome: DeliveryOutcome) -> bool:
    return bool(outcome.job.zone_warning) and outcome.verdict is Verdict.SENT


def _render_audit(outcome: DeliveryOutcome, *, actor: str, now: datetime) -> dict[str, Any]:
    job = outcome.job
    return {
        "at": now,
        "actor": actor,
        "action": "render_failed",
        "subject_type": "referral_request",
        "subject_id": job.request_id,
        "details": {"error": outcome.error, "message_id": job.message_id, "sequence_step": job.step},
    }


def _zone_audit(outcome: DeliveryOutcome, *, actor: str, now: datetime) -> dict[str, Any]:
    job = outcome.job
    return {
        "at": now,
        "actor": actor,
        "action": "timezone_fallback",
        "subject_type": "customer",
        "subject_id": job.customer.customer_id,
        "details": {
            "warning": job.zone_warning,
            "referral_request_id": job.request_id,
            "message_id": job.message_id,
            "sequence_step": job.step,
        },
    }
