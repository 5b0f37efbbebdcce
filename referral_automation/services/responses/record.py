"""Record what customers (and providers on their behalf) did after a message.

Every adapter funnels into ``record_responses``: SendGrid's Event Webhook and its replayed files,
inbound replies, tracking links, the referral API and the demo's simulation. It keeps the side
effects in one place, so they agree whoever reports a response:

- a response with an ``external_id`` (SendGrid's ``sg_event_id``) is recorded once, however often
  it is delivered (``ON CONFLICT DO NOTHING``);
- a suppressing kind (bounce, unsubscribe, spam report) adds the address to the suppression list;
  a group re-subscribe lifts an unsubscribe (never a bounce or a spam report);
- a kind that stops follow-ups clears the request's ``next_followup_at``.

A response naming a request that does not exist is still kept (nothing accepted is lost), with
the unknown id moved into ``details``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, Message, ReferralRequest, Response, Suppression
from referral_automation.db.sql import dialect_insert
from referral_automation.domain import identity
from referral_automation.domain.responses import SUPPRESSING, ResponseKind, stops_follow_ups

responses_table: Table = Response.__table__  # type: ignore[assignment]
suppressions_table: Table = Suppression.__table__  # type: ignore[assignment]

#: Suppression reasons a group re-subscribe lifts: the customer's own choice, nothing the mailbox said.
LIFTED_BY_RESUBSCRIBE = (ResponseKind.UNSUBSCRIBED.value, ResponseKind.GROUP_UNSUBSCRIBED.value)


@dataclass(frozen=True, slots=True)
class ResponseInput:
    """One response as an adapter saw it.

    Give what is known: ``message_id`` finds the request; ``referral_request_id`` with
    ``details["sequence_step"]`` finds the message; ``email`` names the address to suppress when
    no request is known (a bounce of an address, say).
    """

    kind: ResponseKind
    occurred_at: datetime
    source: str
    referral_request_id: str | None = None
    message_id: str | None = None
    external_id: str | None = None
    email: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ResponseReport:
    """What ``record_responses`` did, for the caller's log line or the flow's artifact."""

    received: int = 0
    recorded: int = 0
    duplicates: int = 0
    unknown_requests: int = 0
    suppressions_added: int = 0
    suppressions_lifted: int = 0
    follow_ups_stopped: int = 0

    def add(self, other: ResponseReport) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def normalise_email(email: str) -> str:
    """Suppressions are stored casefolded, so ``Ann@X.com`` and ``ann@x.com`` are one address."""
    return email.strip().casefold()


def record_responses(
    session_factory: sessionmaker[Session],
    responses: Iterable[ResponseInput],
    *,
    now: datetime,
    batch_size: int = 1000,
) -> ResponseReport:
    """Record responses in batches, each batch in its own transaction, with their side effects."""
    report = ResponseReport()
    for batch in _batches(responses, batch_size):
        with session_factory() as session, session.begin():
            report.add(_record_batch(session, batch, now=now))
    return report


def record_in_session(session: Session, responses: Sequence[ResponseInput], *, now: datetime) -> ResponseReport:
    """``record_responses`` inside the caller's transaction, for a service whose response must be
    written with its own rows or not at all (a referral with its referee, a conversion with its rewards)."""
    return _record_batch(session, responses, now=now) if responses else ResponseReport()


def _batches(items: Iterable[ResponseInput], size: int) -> Iterator[list[ResponseInput]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _record_batch(session: Session, batch: Sequence[ResponseInput], *, now: datetime) -> ResponseReport:
    report = ResponseReport(received=len(batch))
    fresh = _without_duplicates(session, batch)
    resolved, report.unknown_requests = _resolve(session, fresh)
    resolved = _insert(session, resolved)
    report.duplicates = len(batch) - len(resolved)
    report.recorded = len(resolved)
    report.suppressions_added, report.suppressions_lifted = _apply_suppressions(session, resolved, now=now)
    report.follow_ups_stopped = _stop_follow_ups(session, resolved, now=now)
    return report


def _insert(session: Session, items: list[ResponseInput]) -> list[ResponseInput]:
    """Insert ``items``; those actually inserted. Another transaction may have recorded the same
    external ids since ``_without_duplicates`` looked (PostgreSQL: the unique index made this one
    wait for it, then ``DO NOTHING``): those are duplicates, counted and acted on once, by the other."""
    if not items:
        return []
    insert = dialect_insert(session, responses_table).on_conflict_do_nothing()
    returned = session.execute(insert.returning(responses_table.c.external_id), [_row(item) for item in items])
    inserted = {external_id for (external_id,) in returned}
    return [item for item in items if item.external_id is None or item.external_id in inserted]


def _without_duplicates(session: Session, batch: Sequence[ResponseInput]) -> list[ResponseInput]:
    """Drop responses whose external id is already recorded, or repeated within the batch."""
    ids = {item.external_id for item in batch if item.external_id is not None}
    seen: set[str] = set()
    if ids:
        query = select(Response.external_id).where(Response.external_id.in_(sorted(ids)))
        seen.update(external_id for external_id in session.execute(query).scalars() if external_id)
    fresh = []
    for item in batch:
        if item.external_id is not None:
            if item.external_id in seen:
                continue
            seen.add(item.external_id)
        fresh.append(item)
    return fresh


def _resolve(session: Session, batch: list[ResponseInput]) -> tuple[list[ResponseInput], int]:
    """Fill in the request from the message and the message from the request's step; keep
    unknown request ids in ``details`` (the column's foreign key would refuse them)."""
    batch = [_with_step_message(item) for item in batch]
    message_ids = sorted({item.message_id for item in batch if item.message_id and not item.referral_request_id})
    owners: dict[str, str] = {}
    if message_ids:
        query = select(Message.id, Message.referral_request_id).where(Message.id.in_(message_ids))
        owners = dict(session.execute(query).tuples().all())
    batch = [
        replace(item, referral_request_id=owners.get(item.message_id))
        if item.message_id and not item.referral_request_id
        else item
        for item in batch
    ]
    named = sorted({item.referral_request_id for item in batch if item.referral_request_id})
    known = set(session.execute(select(ReferralRequest.id).where(ReferralRequest.id.in_(named))).scalars())
    resolved, unknown = [], 0
    for item in batch:
        if item.referral_request_id and item.referral_request_id not in known:
            unknown += 1
            details = {**item.details, "unknown_referral_request_id": item.referral_request_id}
            item = replace(item, referral_request_id=None, details=details)
        resolved.append(item)
    return resolved, unknown


def _with_step_message(item: ResponseInput) -> ResponseInput:
    """A provider event names the request and its step (custom args): that names the message."""
    step = item.details.get("sequence_step")
    if item.message_id or not item.referral_request_id or step is None:
        return item
    try:
        return replace(item, message_id=identity.message_id(item.referral_request_id, int(step)))
    except (TypeError, ValueError):
        return item


def _row(item: ResponseInput) -> dict[str, Any]:
    return {
        "referral_request_id": item.referral_request_id,
        "message_id": item.message_id,
        "kind": item.kind.value,
        "occurred_at": item.occurred_at,
        "source": item.source,
        "external_id": item.external_id,
        "details": item.details,
    }


def _apply_suppressions(session: Session, batch: Sequence[ResponseInput], *, now: datetime) -> tuple[int, int]:
    """Add or lift suppressions in the order the responses happened; (added, lifted)."""
    relevant = [item for item in batch if item.kind in SUPPRESSING or item.kind is ResponseKind.GROUP_RESUBSCRIBED]
    if not relevant:
        return 0, 0
    addresses = _request_addresses(session, [item.referral_request_id for item in relevant if not item.email])
    added = lifted = 0
    for item in sorted(relevant, key=lambda response: response.occurred_at):
        email = item.email or addresses.get(item.referral_request_id or "")
        if not email:
            continue
        address = normalise_email(email)
        if item.kind is ResponseKind.GROUP_RESUBSCRIBED:
            lifted += _lift(session, address)
        else:
            added += _suppress(session, address, reason=item.kind.value, source=item.source, now=now)
    return added, lifted


def _request_addresses(session: Session, request_ids: Sequence[str | None]) -> dict[str, str]:
    wanted = sorted({request_id for request_id in request_ids if request_id})
    if not wanted:
        return {}
    query = (
        select(ReferralRequest.id, Customer.email)
        .join(Customer, Customer.customer_id == ReferralRequest.customer_id)
        .where(ReferralRequest.id.in_(wanted))
    )
    return dict(session.execute(query).tuples().all())


def _suppress(session: Session, address: str, *, reason: str, source: str, now: datetime) -> int:
    insert = (
        dialect_insert(session, suppressions_table)
        .values(email=address, reason=reason, source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(suppressions_table.c.email)
    )
    return len(session.execute(insert).all())  # rowcount is -1 on SQLite for ON CONFLICT inserts


def _lift(session: Session, address: str) -> int:
    statement = delete(Suppression).where(Suppression.email == address, Suppression.reason.in_(LIFTED_BY_RESUBSCRIBE))
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def _stop_follow_ups(session: Session, batch: Sequence[ResponseInput], *, now: datetime) -> int:
    ids = sorted({item.referral_request_id or "" for item in batch if stops_follow_ups(item.kind)} - {""})
    if not ids:
        return 0
    statement = (
        update(ReferralRequest)
        .where(ReferralRequest.id.in_(ids), ReferralRequest.next_followup_at.is_not(None))
        .values(next_followup_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
