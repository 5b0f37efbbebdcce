"""Delivery decisions: what to do with a claimed message, and what its outcome changes.

The send path (``services.sending``) reads what earlier runs left, renders, hands messages to a
sender and records what happened; every *decision* along the way is made here, without a
database, a sender or a clock, so the exactly-once rules can be read (and tested) in one place:

- ``known_outcome``: a job that must not be sent now (settled before, refused, unreachable,
  waiting out a reconcile window, out of attempts), or None when it is to be sent;
- ``accepted`` / ``not_accepted``: what the provider's answer means (sent, retry, failed, or
  ambiguous: may have been accepted, so never re-sent blindly), or that no request could be built
  (released: given back untouched, since only a setting is wrong);
- ``message_writes``, ``first_ask_update``, ``follow_up_update``: the rows an outcome changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from referral_automation.domain import identity
from referral_automation.domain.facts import CustomerFacts
from referral_automation.domain.followups import FollowUpSchedule
from referral_automation.domain.statuses import MessageStatus, RequestStatus
from referral_automation.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SenderSetupError,
)


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How a send run behaves; the defaults suit the outbox and SendGrid alike."""

    batch_size: int = 500
    #: How long a claimed request belongs to this worker; a crashed worker's requests return after it.
    lease: timedelta = timedelta(minutes=15)
    #: How long an unanswered send waits for a provider event before a non-idempotent sender retries:
    #: SendGrid retries its Event Webhook for a day, so an event may come that late.
    reconcile_after: timedelta = timedelta(hours=24)
    #: Attempts (retryable errors) before a request is ``failed``.
    max_attempts: int = 5
    #: First retry delay, doubled on each further attempt, never beyond ``max_backoff``.
    backoff: timedelta = timedelta(minutes=5)
    max_backoff: timedelta = timedelta(hours=6)
    #: Who holds the lease (host:pid by default, set by the flow).
    worker: str = "send"


@dataclass(frozen=True, slots=True)
class Job:
    """One message to send: a claimed request, its customer and the sequence step."""

    request_id: str
    campaign: str
    variant: str
    incentive: str
    code: str
    unsubscribe_token: str
    rule_id: str
    moment_occurred_at: datetime
    moment_properties: dict[str, Any]
    first_sent_at: datetime | None
    customer: CustomerFacts
    step: int
    attempts: int
    zone: ZoneInfo
    #: ``identity.message_id(request_id, step)``, derived once by the claim (it is derived per message).
    message_id: str = ""
    zone_warning: str | None = None
    #: The customer already responded (reply, referral click, referral): no follow-up.
    engaged: bool = False

    def __post_init__(self) -> None:
        if not self.message_id:
            object.__setattr__(self, "message_id", identity.message_id(self.request_id, self.step))

    @property
    def unreachable(self) -> str | None:
        """Why this customer may not be emailed now, or None."""
        if self.customer.suppressed:
            return "the address is suppressed"
        if not self.customer.marketing_opt_in:
            return "the customer opted out of marketing email"
        if self.engaged:
            return "the customer already responded"
        return None


class Verdict(StrEnum):
    SENT = "sent"  # the provider accepted it in this run
    SETTLED = "settled"  # it had been accepted before (message row or provider event): nothing sent now
    FAILED = "failed"  # refused for good
    RETRY = "retry"  # nothing accepted; try again at ``retry_at``
    AMBIGUOUS = "ambiguous"  # may have been accepted: wait for a provider event or the reconcile window
    WAITING = "waiting"  # an earlier ambiguous send is still within its reconcile window
    STOPPED = "stopped"  # suppressed, opted out or already responded: not sent
    RELEASED = "released"  # not sent, the sender cannot build a request: back as it was, no attempt counted


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What became of one job in this run, with what the caller records for it."""

    job: Job
    verdict: Verdict
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    error: str | None = None
    retry_at: datetime | None = None
    #: Whether a message row exists for this job (so its status is recorded too).
    has_row: bool = True
    #: An idempotent sender's message row, not written before the send: recorded with the outcome.
    row: dict[str, Any] | None = None
    #: The email could not be rendered (``error`` says why): failed without a send.
    unrenderable: bool = False


@dataclass(frozen=True, slots=True)
class Evidence:
    """What earlier runs left for a batch's messages: their rows, and which of those still
    ``sending`` a provider has reported on (accepted, with its message id if told)."""

    rows: dict[str, dict[str, Any]]
    accepted: dict[str, str | None]
    #: Unanswered sends past their reconcile window whose fate the provider could not tell just now
    #: (its activity lookup did not answer): they wait rather than risk a second email.
    unconfirmed: frozenset[str] = frozenset()


def known_outcome(
    job: Job,
    row: dict[str, Any],
    accepted: dict[str, str | None],
    *,
    unconfirmed: frozenset[str] = frozenset(),
    idempotent_provider: str | None,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryOutcome | None:
    """The outcome of a job that must not be sent now, or None when it is to be sent.

    ``idempotent_provider`` names this run's sender when sending again through it is harmless
    (the outbox); a ``sending`` row of that same provider may then be sent again at once.
    """
    status = row.get("status")
    if status == MessageStatus.SENT:
        return DeliveryOutcome(job, Verdict.SETTLED, row["provider_message_id"], row["sent_at"])
    if status == MessageStatus.FAILED:
        return DeliveryOutcome(job, Verdict.FAILED, error=row["error"] or "failed in an earlier run")
    if status == MessageStatus.SENDING and job.message_id in accepted:
        return DeliveryOutcome(job, Verdict.SETTLED, accepted[job.message_id], row["created_at"])
    if job.unreachable:
        return DeliveryOutcome(job, Verdict.STOPPED, error=job.unreachable, has_row=bool(row))
    # Sending again is harmless only through the same idempotent provider (the backend may have changed).
    idempotent = idempotent_provider is not None and row.get("provider") == idempotent_provider
    if status == MessageStatus.SENDING and not idempotent and row["created_at"] + options.reconcile_after > now:
        return DeliveryOutcome(job, Verdict.WAITING, retry_at=row["created_at"] + options.reconcile_after)
    # The provider's lookup did not answer: ask again on a later run, within a second window at most.
    if (
        status == MessageStatus.SENDING
        and job.message_id in unconfirmed
        and row["created_at"] + 2 * options.reconcile_after > now
    ):
        return DeliveryOutcome(job, Verdict.WAITING, retry_at=now + options.backoff)
    if status == MessageStatus.SENDING and job.attempts >= options.max_attempts:
        error = f"no answer from the provider after {job.attempts} attempts: {row['error'] or 'worker lost'}"
        return DeliveryOutcome(job, Verdict.FAILED, error=error)
    return None


def accepted(job: Job, provider_message_id: str | None, *, now: datetime) -> DeliveryOutcome:
    """The provider accepted the message in this run."""
    return DeliveryOutcome(job, Verdict.SENT, provider_message_id, now)


def not_accepted(
    job: Job, error: DeliveryError, *, now: datetime, options: DeliveryOptions, idempotent: bool
) -> DeliveryOutcome:
    """A send that raised, sorted by whether the provider may have accepted it.

    An ambiguous send is looked at again after the reconcile window, or, for an idempotent
    sender (where sending again is harmless), after the first retry delay.
    """
    if isinstance(error, SenderSetupError):  # nothing left this machine, and the message is not at fault
        return DeliveryOutcome(job, Verdict.RELEASED, error=str(error))
    if isinstance(error, PermanentDeliveryError):
        return DeliveryOutcome(job, Verdict.FAILED, error=str(error))
    if isinstance(error, RetryableDeliveryError):
        return retry_or_fail(job, str(error), error.retry_after, now=now, options=options)
    # AmbiguousDeliveryError, or a DeliveryError of no known kind: it may have been accepted.
    label = "ambiguous" if isinstance(error, AmbiguousDeliveryError) else type(error).__name__
    wait = options.backoff if idempotent else options.reconcile_after
    return DeliveryOutcome(job, Verdict.AMBIGUOUS, error=f"{label}: {error}", retry_at=now + wait)


def cannot_render(job: Job, reason: str, *, has_row: bool) -> DeliveryOutcome:
    """A job whose email cannot be rendered: it fails with the reason. Rendering it again would
    give the same error, so it is never retried (fix the template, then send it again by hand)."""
    error = f"cannot render the email: {reason}"
    return DeliveryOutcome(job, Verdict.FAILED, error=error, has_row=has_row, unrenderable=True)


def retry_or_fail(
    job: Job, error: str, retry_after: float | None, *, now: datetime, options: DeliveryOptions, has_row: bool = True
) -> DeliveryOutcome:
    """Try again later with exponential backoff, or give up after ``max_attempts``."""
    attempt = job.attempts + 1
    if attempt >= options.max_attempts:
        return DeliveryOutcome(job, Verdict.FAILED, error=f"gave up after {attempt} attempts: {error}", has_row=has_row)
    delay = min(options.backoff * 2 ** (attempt - 1), options.max_backoff)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return DeliveryOutcome(job, Verdict.RETRY, error=error, retry_at=now + delay, has_row=has_row)


#: The message columns a later attempt rewrites on a row an earlier one left.
REUSED_COLUMNS = ("id", "status", "provider", "subject", "content_hash", "created_at", "error")


def reused(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in REUSED_COLUMNS}


def message_writes(outcomes: Sequence[DeliveryOutcome]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(new rows, changes to existing rows) of a batch's messages.

    An outcome carrying its own ``row`` (an idempotent sender's) gets that row with the
    outcome's changes: inserted, or over the row an earlier attempt left.
    """
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for outcome in outcomes:
        changes = message_changes(outcome)
        if outcome.row is not None:
            if outcome.has_row:
                updates.append(reused(outcome.row) | (changes or {}))
            else:
                inserts.append(outcome.row | (changes or {}))
        elif outcome.has_row and changes is not None:
            updates.append({"id": outcome.job.message_id, **changes})
    return inserts, updates


def message_changes(outcome: DeliveryOutcome) -> dict[str, Any] | None:
    """What an outcome changes in its message row; None: nothing (still waiting)."""
    verdict = outcome.verdict
    if verdict in (Verdict.SENT, Verdict.SETTLED):
        return {"status": MessageStatus.SENT.value, "provider_message_id": outcome.provider_message_id,
                "sent_at": outcome.sent_at, "error": None}  # fmt: skip
    if verdict is Verdict.FAILED:
        return {"status": MessageStatus.FAILED.value, "error": outcome.error}
    if verdict in (Verdict.RETRY, Verdict.RELEASED):
        return {"status": MessageStatus.RETRY.value, "error": outcome.error}
    if verdict is Verdict.AMBIGUOUS:
        return {"error": outcome.error}
    if verdict is Verdict.STOPPED:
        return {"status": MessageStatus.CANCELLED.value, "error": outcome.error}
    return None


def first_ask_update(outcome: DeliveryOutcome, *, schedule: FollowUpSchedule, now: datetime) -> dict[str, Any]:
    """The request's changes after its first ask's outcome (lease released unless still pending)."""
    job, verdict = outcome.job, outcome.verdict
    released = {"id": job.request_id, "lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if verdict in (Verdict.SENT, Verdict.SETTLED):
        sent_at = outcome.sent_at or now
        following = schedule.next(job.campaign, job.zone, first_sent_at=sent_at, done=0)
        return released | {"status": RequestStatus.SENT.value, "sent_at": sent_at, "next_followup_at": following,
                           "attempts": 0, "last_error": None}  # fmt: skip
    if verdict is Verdict.FAILED:
        return released | {"status": RequestStatus.FAILED.value, "attempts": job.attempts + 1,
                           "last_error": outcome.error}  # fmt: skip
    if verdict is Verdict.STOPPED:
        return released | {"status": RequestStatus.SUPPRESSED.value, "last_error": outcome.error}
    if verdict is Verdict.RETRY:
        return released | {"status": RequestStatus.SCHEDULED.value, "scheduled_for": outcome.retry_at,
                           "attempts": job.attempts + 1, "last_error": outcome.error}  # fmt: skip
    if verdict is Verdict.RELEASED:  # due again as soon as the setting is fixed
        return released | {"status": RequestStatus.SCHEDULED.value, "attempts": job.attempts,
                           "last_error": outcome.error}  # fmt: skip
    return _still_pending(outcome, now=now)


def follow_up_update(outcome: DeliveryOutcome, *, schedule: FollowUpSchedule, now: datetime) -> dict[str, Any]:
    """The request's changes after a follow-up's outcome (its status stays ``sent``)."""
    job, verdict = outcome.job, outcome.verdict
    released = {"id": job.request_id, "lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if verdict in (Verdict.SENT, Verdict.SETTLED):
        first = job.first_sent_at or outcome.sent_at or now
        following = schedule.next(job.campaign, job.zone, first_sent_at=first, done=job.step)
        return released | {"followups_sent": job.step, "next_followup_at": following, "attempts": 0, "last_error": None}
    if verdict in (Verdict.FAILED, Verdict.STOPPED):
        return released | {"next_followup_at": None, "last_error": outcome.error if verdict is Verdict.FAILED else None}
    if verdict is Verdict.RETRY:
        return released | {"next_followup_at": outcome.retry_at, "attempts": job.attempts + 1,
                           "last_error": outcome.error}  # fmt: skip
    if verdict is Verdict.RELEASED:
        return released | {"attempts": job.attempts, "last_error": outcome.error}
    return _still_pending(outcome, now=now)


def _still_pending(outcome: DeliveryOutcome, *, now: datetime) -> dict[str, Any]:
    """Ambiguous or waiting: the lease runs on until it is looked at again (an attempt counted if made)."""
    job = outcome.job
    if outcome.verdict is Verdict.AMBIGUOUS:
        return {"id": job.request_id, "lease_expires_at": outcome.retry_at, "attempts": job.attempts + 1,
                "last_error": outcome.error, "updated_at": now}  # fmt: skip
    return {"id": job.request_id, "lease_expires_at": outcome.retry_at, "updated_at": now}
