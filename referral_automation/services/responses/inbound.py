"""Replies that come back through SendGrid's Inbound Parse: found their request, read, recorded.

**Which request.** In order of trust:

1. a signed reply address among the recipients (``referrals+<token>@…``, ``REFERRAL_REPLY_ADDRESS``):
   the token names the request and cannot be forged;
2. ``In-Reply-To`` / ``References`` naming one of our messages (``<message uuid@domain>``, every
   email carries one and follow-ups thread under the first ask);
3. the sender's address, the customer's latest sent request, but only when SendGrid saw the
   sender authenticated (SPF ``pass`` or a DKIM ``pass``): a ``From`` line costs nothing to forge.

A reply matching nothing is still kept (no request), with its sender and words, for a person.

**What it says.** A machine's answer (``domain.inbound.auto_reply_reason``: out-of-office,
``Auto-Submitted``, delivery reports) is kept as ``auto_replied`` and changes nothing. Otherwise
``domain.replies.classify_reply`` reads the customer's own words: a first word "OK" is
``replied_ok``, anything else ``replied`` with its text; either stops the request's follow-ups.

SendGrid retries a post it got no 2xx for: the reply's ``Message-ID`` (or, without one, a hash of
what it said) is the response's ``external_id``, so a retried post records nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_string
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, ReferralRequest
from referral_automation.db.models import Message as MessageRow
from referral_automation.domain.inbound import auto_reply_reason, referenced_message_ids
from referral_automation.domain.replies import classify_reply
from referral_automation.domain.responses import ResponseKind
from referral_automation.errors import NotFoundError
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.record import ResponseInput, record_responses

SOURCE = "inbound"
#: Bounds on what is read of a post's fields (the body's size is bounded by the web app already).
MAX_HEADERS_CHARS = 64 * 1024
MAX_RAW_CHARS = 2 * 1024 * 1024
MAX_RECIPIENTS = 50
MAX_SUBJECT = 300
MAX_ADDRESS = 320


@dataclass(frozen=True, slots=True)
class InboundMail:
    """What an Inbound Parse post says, in either of its modes (parsed fields, or the raw message)."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    #: Lower-case header names → their first value.
    headers: Mapping[str, str] = field(default_factory=dict)
    authenticated: bool = False


@dataclass(frozen=True, slots=True)
class InboundResult:
    kind: ResponseKind
    referral_request_id: str | None
    matched_by: str | None
    recorded: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "referral_request_id": self.referral_request_id,
            "matched_by": self.matched_by,
            "recorded": self.recorded,
        }


def parse_inbound(fields: Mapping[str, str]) -> InboundMail:
    """An Inbound Parse post's fields (``from, to, cc, subject, text, html, headers, envelope, SPF,
    dkim``, or ``email`` in raw mode) as one ``InboundMail``."""
    raw = fields.get("email")
    message = message_from_string(raw[:MAX_RAW_CHARS], policy=compat32) if raw else None
    header_text = fields.get("headers", "")[:MAX_HEADERS_CHARS]
    parsed_headers = message or HeaderParser(policy=compat32).parsestr(header_text, headersonly=True)
    headers = _first_values(parsed_headers)
    text, html = _bodies(message) if message else (fields.get("text"), fields.get("html"))
    recipients = [*_addresses(fields.get("to")), *_addresses(fields.get("cc")), *_envelope_to(fields.get("envelope"))]
    recipients += _addresses(headers.get("to")) + _addresses(headers.get("cc"))
    sender = parseaddr(fields.get("from") or headers.get("from") or "")[1][:MAX_ADDRESS]
    return InboundMail(
        sender=sender,
        recipients=tuple(dict.fromkeys(recipients))[:MAX_RECIPIENTS],
        subject=" ".join((fields.get("subject") or headers.get("subject") or "").split())[:MAX_SUBJECT],
        text=text,
        html=html,
        headers=headers,
        authenticated=_authenticated(fields.get("SPF"), fields.get("dkim")),
    )


def _first_values(message: Message) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in message.items():
        values.setdefault(name.lower(), str(value)[:MAX_HEADERS_CHARS])
    return values


def _bodies(message: Message) -> tuple[str | None, str | None]:
    """The first text/plain and text/html parts of a raw message, decoded."""
    found: dict[str, str] = {}
    for part in message.walk():
        subtype = part.get_content_subtype() if part.get_content_maintype() == "text" else ""
        if subtype in ("plain", "html") and subtype not in found and not part.get_filename():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found[subtype] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return found.get("plain"), found.get("html")


def _addresses(value: str | None) -> list[str]:
    if not value:
        return []
    return [address[:MAX_ADDRESS] for _, address in getaddresses([value[:MAX_HEADERS_CHARS]]) if address]


def _envelope_to(envelope: str | None) -> list[str]:
    try:
        document = json.loads(envelope or "{}")
    except ValueError:
        return []
    to = document.get("to") if isinstance(document, dict) else None
    return [str(item)[:MAX_ADDRESS] for item in to[:MAX_RECIPIENTS]] if isinstance(to, list) else []


def _authenticated(spf: str | None, dkim: str | None) -> bool:
    """Whether SendGrid saw the sender's domain pass SPF, or a DKIM signature pass."""
    return (spf or "").strip().lower() == "pass" or ": pass" in (dkim or "").lower()


def record_inbound(
    session_factory: sessionmaker[Session],
    mail: InboundMail,
    *,
    signer: LinkSigner,
    now: datetime,
    request_id: str | None = None,
) -> InboundResult:
    """Match, classify and record one inbound reply (see the module). ``request_id`` names the
    request outright (a back-office import); ``NotFoundError`` if there is no such request."""
    with session_factory() as session:
        if request_id is not None:
            if session.get(ReferralRequest, request_id) is None:
                raise NotFoundError(f"no referral request has the id {request_id!r}")
            message_id: str | None = None
            matched_by: str | None = "given"
        else:
            request_id, message_id, matched_by = match_request(session, mail, signer)
    automated = auto_reply_reason(mail.headers)
    verdict = classify_reply(mail.text, mail.html)
    kind = _kind(automated, verdict.ok)
    details: dict[str, Any] = {"from": mail.sender, "subject": mail.subject, "text": verdict.text}
    details.update({"matched_by": matched_by, "auto_reply": automated, "authenticated": mail.authenticated})
    response = ResponseInput(
        kind=kind,
        occurred_at=now,
        source=SOURCE,
        referral_request_id=request_id,
        message_id=message_id,
        external_id=_external_id(mail, verdict.text),
        details=details,
    )
    report = record_responses(session_factory, [response], now=now)
    return InboundResult(kind, request_id, matched_by, recorded=report.recorded == 1)


def _kind(automated: str | None, ok: bool) -> ResponseKind:
    if automated:
        return ResponseKind.AUTO_REPLIED
    return ResponseKind.REPLIED_OK if ok else ResponseKind.REPLIED


def match_request(session: Session, mail: InboundMail, signer: LinkSigner) -> tuple[str | None, str | None, str | None]:
    """(request id, message id, how it was found); all ``None`` when nothing matches."""
    for address in mail.recipients:
        request_id = signer.request_of_reply_address(address)
        if request_id and session.get(ReferralRequest, request_id) is not None:
            return request_id, None, "reply_address"
    ids = referenced_message_ids(mail.headers.get("in-reply-to"), mail.headers.get("references"))
    if ids:
        query = select(MessageRow.id, MessageRow.referral_request_id).where(MessageRow.id.in_(ids))
        owners = dict(session.execute(query).tuples().all())
        for message_id in ids:
            if message_id in owners:
                return owners[message_id], message_id, "in_reply_to"
    if mail.authenticated and mail.sender:
        request_id = _latest_request_of(session, mail.sender)
        if request_id:
            return request_id, None, "sender"
    return None, None, None


def _latest_request_of(session: Session, sender: str) -> str | None:
    customers = select(Customer.customer_id).where(Customer.email.in_(sorted({sender, sender.lower()})))
    query = (
        select(ReferralRequest.id)
        .where(ReferralRequest.customer_id.in_(customers), ReferralRequest.sent_at.is_not(None))
        .order_by(ReferralRequest.sent_at.desc())
        .limit(1)
    )
    return session.execute(query).scalar()


def _external_id(mail: InboundMail, text: str) -> str:
    """``inbound:`` + a hash of the reply's Message-ID, or of what it said when it has none."""
    key = mail.headers.get("message-id", "").strip() or "\x1f".join((mail.sender, mail.subject, text))
    return "inbound:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
