"""SendGrid's Event Webhook events, as responses: shared by ``ingest sendgrid-events`` and the webhook.

An event batch is a JSON array of objects. Each needs ``sg_event_id`` (the deduplication key:
SendGrid retries a batch for 24 hours and may repeat events), ``event``, ``email`` and
``timestamp``; a bad item is reported as ``SOURCE:[index]: reason`` and the good ones are kept.

Every event becomes one ``ResponseInput`` for ``services.responses.record.record_responses``, which owns
deduplication, suppressions and stopping follow-ups. The message an event is about is found from
our ``custom_args`` (they come back as top-level keys: ``referral_request_id`` and
``sequence_step`` name the message), or else from ``sg_message_id``, whose part before the first
dot is the ``X-Message-Id`` we stored as ``provider_message_id``. Unknown event types are kept
raw (kind ``provider_event``), so nothing SendGrid told us is lost.

An event that shows SendGrid accepted a message still ``sending`` (an ambiguous send) ends that
request's lease, so the next send run settles it at once instead of after the reconcile window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Message, ReferralRequest
from referral_automation.db.sql import chunks
from referral_automation.domain import identity
from referral_automation.domain.responses import ACCEPTED_BY_PROVIDER, ResponseKind
from referral_automation.domain.statuses import MessageStatus
from referral_automation.errors import Problem
from referral_automation.services.responses.record import ResponseInput, ResponseReport, record_responses

SOURCE = "sendgrid"
REQUIRED = ("sg_event_id", "event", "email", "timestamp")

#: SendGrid event name → our response kind (anything else is kept raw as ``provider_event``).
KINDS: dict[str, ResponseKind] = {
    "processed": ResponseKind.PROCESSED,
    "delivered": ResponseKind.DELIVERED,
    "deferred": ResponseKind.DEFERRED,
    "bounce": ResponseKind.BOUNCED,
    "dropped": ResponseKind.DROPPED,
    "open": ResponseKind.OPENED,
    "click": ResponseKind.CLICKED,
    "spamreport": ResponseKind.SPAM_REPORTED,
    "unsubscribe": ResponseKind.UNSUBSCRIBED,
    "group_unsubscribe": ResponseKind.GROUP_UNSUBSCRIBED,
    "group_resubscribe": ResponseKind.GROUP_RESUBSCRIBED,
}
#: Fields worth keeping from a known event (the address and ids are stored in their own columns).
KEPT = (
    "event", "sg_message_id", "sequence_step", "message_id", "campaign", "arm", "category", "reason", "status",
    "type", "bounce_classification", "response", "attempt", "url", "url_offset", "asm_group_id", "sg_machine_open",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ParsedEvents:
    """The usable events of a batch, and one problem per item (or for the whole batch) that was not."""

    events: list[dict[str, Any]]
    problems: list[Problem]


def read_event_file(path: Path) -> ParsedEvents:
    """A file as the Event Webhook posts it: one JSON array of event objects."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as error:
        return ParsedEvents([], [Problem(str(path), None, f"cannot read the file: {error.strerror or error}")])
    except ValueError as error:
        return ParsedEvents([], [Problem(str(path), None, f"not JSON: {error}")])
    return parse_events(document, source=str(path))


def parse_events(document: Any, *, source: str) -> ParsedEvents:
    """Check a decoded batch; ``source`` names it in problems (a file path, or ``webhook``)."""
    if not isinstance(document, list):
        return ParsedEvents([], [Problem(source, None, f"expected a JSON array of events, got {_json_type(document)}")])
    events: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for index, item in enumerate(document):
        reason = _problem_with(item)
        if reason is None:
            events.append(item)
        else:
            problems.append(Problem(f"{source}:[{index}]", None, reason))
    return ParsedEvents(events, problems)


def _problem_with(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"expected an event object, got {_json_type(item)}"
    missing = [name for name in REQUIRED if item.get(name) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    for name in ("sg_event_id", "event", "email"):
        if not isinstance(item[name], str):
            return f"{name} must be a string, got {_json_type(item[name])}"
    timestamp = item["timestamp"]
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return f"timestamp must be a Unix time in seconds, got {_json_type(timestamp)}"
    try:
        datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return f"timestamp {timestamp} is out of range"
    return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def to_response(event: dict[str, Any], *, public_base_url: str) -> ResponseInput:
    """One checked event as a response (``message_id`` is filled in later from ``sg_message_id`` if needed)."""
    name = event["event"]
    kind = KINDS.get(name, ResponseKind.PROVIDER_EVENT)
    if kind is ResponseKind.CLICKED and _is_referral_link(event.get("url"), public_base_url):
        kind = ResponseKind.REFERRAL_CLICKED
    if kind is ResponseKind.PROVIDER_EVENT:
        details: dict[str, Any] = {"raw": event}
    else:
        details = {key: event[key] for key in KEPT if event.get(key) is not None}
    provider_id = provider_message_id(event.get("sg_message_id"))
    if provider_id:
        details["provider_message_id"] = provider_id
    request_id = event.get("referral_request_id")
    return ResponseInput(
        kind=kind,
        occurred_at=datetime.fromtimestamp(event["timestamp"], UTC),
        source=SOURCE,
        referral_request_id=str(request_id) if request_id else None,
        external_id=event["sg_event_id"],
        email=event["email"],
        details=details,
    )


def provider_message_id(sg_message_id: Any) -> str | None:
    """``X-Message-Id`` from an event's ``sg_message_id`` (``<x-message-id>.<filter>...``)."""
    if not isinstance(sg_message_id, str) or not sg_message_id:
        return None
    return sg_message_id.split(".", 1)[0]


def _is_referral_link(url: Any, public_base_url: str) -> bool:
    return isinstance(url, str) and url.startswith(f"{public_base_url.rstrip('/')}/r/")


def record_sendgrid_events(
    session_factory: sessionmaker[Session],
    events: Sequence[dict[str, Any]],
    *,
    now: datetime,
    public_base_url: str,
) -> ResponseReport:
    """Record checked events (from ``parse_events``) once each, with their side effects."""
    responses = [to_response(event, public_base_url=public_base_url) for event in events]
    with session_factory() as session, session.begin():
        responses = _with_messages_from_provider_ids(session, responses)
    report = record_responses(session_factory, responses, now=now)
    accepted = sorted({r.message_id for r in responses if r.message_id and r.kind in ACCEPTED_BY_PROVIDER})
    with session_factory() as session, session.begin():
        _end_leases_of_settled_sends(session, accepted, now=now)
    return report


def _with_messages_from_provider_ids(session: Session, responses: list[ResponseInput]) -> list[ResponseInput]:
    """Name the message of events without our custom args by SendGrid's message id.

    Events that do carry them get their message id derived the same way ``record_responses`` does,
    so the accepted ones can be matched to ``sending`` rows below.
    """
    wanted = {r.details.get("provider_message_id") for r in responses if not r.referral_request_id} - {None}
    owners: dict[str, tuple[str, str]] = {}
    for part in chunks(sorted(str(p) for p in wanted)):
        query = select(Message.provider_message_id, Message.id, Message.referral_request_id).where(
            Message.provider_message_id.in_(part)
        )
        owners.update({pid: (mid, rid) for pid, mid, rid in session.execute(query).tuples() if pid})
    named = []
    for response in responses:
        step = response.details.get("sequence_step")
        owner = owners.get(response.details.get("provider_message_id", ""))
        if response.referral_request_id and step is not None and str(step).isdigit():
            response = replace(response, message_id=identity.message_id(response.referral_request_id, int(step)))
        elif not response.referral_request_id and owner is not None:
            response = replace(response, message_id=owner[0], referral_request_id=owner[1])
        named.append(response)
    return named


def _end_leases_of_settled_sends(session: Session, message_ids: Sequence[str], *, now: datetime) -> None:
    """Let the next send run settle ambiguous sends SendGrid has now reported on (it never re-sends them)."""
    for part in chunks(list(message_ids)):
        settled = select(Message.referral_request_id).where(
            Message.id.in_(part), Message.status == MessageStatus.SENDING
        )
        session.execute(
            update(ReferralRequest)
            .where(ReferralRequest.id.in_(settled), ReferralRequest.lease_expires_at > now)
            .values(lease_expires_at=now)
            .execution_options(synchronize_session=False)
        )
