"""SendGrid's Event Webhook events, as responses: shared by ``ingest sendgrid-events`` and the webhook.

An event batch is a JSON array of objects. Each needs ``sg_event_id`` (the deduplication key:
SendGrid retries a batch for 24 hours and may repeat events), ``event``, ``email`` and
``timestamp``; a bad item is reported as ``SOURCE:[index]: reason`` and the good ones are kept.

Anyone who can reach the webhook can write a batch, so each event is checked before any database
sees it (``check_event``), the same way for SQLite and PostgreSQL: the batch's bytes are cut into
its elements and each is parsed alone (``services.ingest.json_array``), so a NUL character, a
lone surrogate, ``NaN``, a 100,000-deep nesting or a malformed element is one reject, never the
batch's end; ids, addresses and time stamps are bounded as the ingest bounds them.

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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Message, ReferralRequest
from referral_automation.db.sql import chunks
from referral_automation.domain import identity
from referral_automation.domain.responses import ACCEPTED_BY_PROVIDER, ResponseKind
from referral_automation.domain.statuses import MessageStatus
from referral_automation.errors import InputError, Problem
from referral_automation.services.ingest.event_checks import json_error
from referral_automation.services.ingest.inputs import READ_BUFFER, READ_ERRORS, open_input, read_error_message
from referral_automation.services.ingest.json_array import MalformedArray, array_elements
from referral_automation.services.ingest.values import (
    EARLIEST,
    LATEST,
    MAX_DEPTH,
    RecordError,
    check_identifier,
    check_json_value,
    check_mailbox,
    describe,
)
from referral_automation.services.responses.record import ResponseInput, ResponseReport, record_responses

SOURCE = "sendgrid"
REQUIRED = ("sg_event_id", "event", "email", "timestamp")
#: Bounds of an event: its bytes, and the widths of the columns its ids are stored in or compared with.
MAX_EVENT_BYTES = 1 << 20
MAX_SG_EVENT_ID = 200
MAX_EVENT_NAME = 100
MAX_ID = 200
#: Our custom arg ``sequence_step``: 0 for the first ask, then the follow-ups.
SEQUENCE_STEP = re.compile(r"[0-9]{1,2}")

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


def read_event_file(path: Path | str, *, stdin: IO[bytes] | None = None) -> ParsedEvents:
    """A file as the Event Webhook posts it: one JSON array of event objects (gzip-compressed or
    not; ``-`` reads standard input, or ``stdin`` if given). A file that breaks off (a damaged
    .gz) gives the events before the break, and a problem saying where."""
    chunks: list[bytes] = []
    broken: Problem | None = None
    try:
        with open_input(path, stdin=stdin) as source:
            read = getattr(source.handle, "read1", source.handle.read)  # what is there, before a break
            while chunk := read(READ_BUFFER):
                chunks.append(chunk)
    except InputError as error:
        return ParsedEvents([], error.problems)
    except READ_ERRORS as error:
        broken = Problem(source.name, None, f"{read_error_message(error)}; the events before it are read")
    parsed = parse_events(b"".join(chunks), source=source.name)
    if broken is not None:
        parsed.problems.append(broken)
    return parsed


def parse_events(document: bytes | str | list[Any], *, source: str) -> ParsedEvents:
    """Check a batch; ``source`` names it in problems (a file path, or ``webhook``).

    Give the batch's bytes (a request's body) where there are any: each element is then parsed
    alone. An already decoded list is checked element by element the same way.
    """
    if isinstance(document, list):
        return _checked(enumerate(document), source)
    if isinstance(document, str):
        document = document.encode("utf-8", "surrogatepass")
    if not isinstance(document, bytes):
        return ParsedEvents([], [Problem(source, None, f"expected a JSON array of events, got {describe(document)}")])
    events: list[dict[str, Any]] = []
    problems: list[Problem] = []
    try:
        for element in array_elements(document, max_depth=MAX_DEPTH):
            try:
                events.append(check_event(_decoded(element.data, element.too_deep)))
            except RecordError as bad:
                problems.append(Problem(f"{source}:[{element.index}]", None, str(bad)))
    except MalformedArray as broken:
        where = source if broken.index is None else f"{source}:[{broken.index}]"
        problems.append(Problem(where, None, f"not a JSON array of events: {broken.message}"))
    return ParsedEvents(events, problems)


def _checked(items: Iterable[tuple[int, Any]], source: str) -> ParsedEvents:
    events: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for index, item in items:
        try:
            check_json_value(item)
            events.append(check_event(item))
        except RecordError as bad:
            problems.append(Problem(f"{source}:[{index}]", None, str(bad)))
    return ParsedEvents(events, problems)


def _decoded(data: bytes, too_deep: bool) -> Any:
    """One element's value, held to ``check_json_value``; ``RecordError`` says what is wrong."""
    if too_deep:
        raise RecordError(f"nests deeper than {MAX_DEPTH} levels of objects and arrays")
    if len(data) > MAX_EVENT_BYTES:
        raise RecordError(f"an event longer than {MAX_EVENT_BYTES} bytes")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise RecordError(_why_not_json(data, error)) from None
    if b"\\u0000" in data:
        check_json_value(value)
    return value


def _why_not_json(data: bytes, error: orjson.JSONDecodeError) -> str:
    """orjson refuses NaN, Infinity and lone surrogates as malformed; the standard library reads
    them (the element's depth is bounded, so it cannot recurse too far), and the checks then
    name the real reason."""
    try:
        check_json_value(json.loads(data))
    except RecordError as bad:
        return str(bad)
    except ValueError:
        pass
    return json_error(error)


def check_event(item: Any) -> dict[str, Any]:
    """The event, its address normalised, if it is one we can record; ``RecordError`` otherwise.

    ``item`` holds only what a JSON column can store (``check_json_value``).
    """
    if not isinstance(item, dict):
        raise RecordError(f"expected an event object, got {describe(item)}")
    missing = [name for name in REQUIRED if item.get(name) in (None, "")]
    if missing:
        raise RecordError(f"missing {', '.join(missing)}")
    check_identifier("sg_event_id", item["sg_event_id"], MAX_SG_EVENT_ID)
    check_identifier("event", item["event"], MAX_EVENT_NAME)
    email = item["email"]
    if not isinstance(email, str):
        raise RecordError(f"email must be a string, got {describe(email)}")
    address = check_mailbox("email", email)
    _check_timestamp(item["timestamp"])
    for name in ("referral_request_id", "sg_message_id"):
        if item.get(name) is not None:
            check_identifier(name, item[name], MAX_ID)
    step = item.get("sequence_step")
    if step is not None and not ((type(step) is int and 0 <= step <= 99) or _is_step_text(step)):
        raise RecordError(f"sequence_step must be a whole number from 0 to 99, got {describe(step)}")
    return item if address == email else {**item, "email": address}


def _is_step_text(step: Any) -> bool:
    return isinstance(step, str) and SEQUENCE_STEP.fullmatch(step) is not None


def _check_timestamp(timestamp: Any) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise RecordError(f"timestamp must be a Unix time in seconds, got {describe(timestamp)}")
    if not EARLIEST.timestamp() <= timestamp < LATEST.timestamp():
        years = f"years {EARLIEST.year} to {LATEST.year - 1}"
        raise RecordError(f"timestamp {str(timestamp)[:30]} is out of range ({years})")


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
