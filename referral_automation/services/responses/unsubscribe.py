"""Unsubscribe links (``/u/{token}``, and the ``List-Unsubscribe`` header's one-click POST).

The token is signed (``domain.tokens``: HMAC of the request id), so the link names its recipient
without anything stored, and a forged or altered token names nobody. Links sent before signed
tokens keep working: a token of the old shape is looked up in ``referral_requests.unsubscribe_token``
(random and unique, as unguessable as a signature).

Unsubscribing suppresses the address (it is never emailed again, by any request) and stops the
request's follow-ups, through ``record_responses`` as every other response does. Doing it twice
changes nothing the second time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, ReferralRequest
from referral_automation.db.shared import suppressed_addresses
from referral_automation.domain.responses import ResponseKind
from referral_automation.domain.tokens import UNSUBSCRIBE_TOKEN_LENGTH
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.record import ResponseInput, record_responses

SOURCE = "unsubscribe_link"
#: Tokens of the links sent before signed tokens: ``secrets.token_urlsafe(16)``.
_LEGACY_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whose link a token is: the request, the address, and whether it is suppressed already."""

    request_id: str
    email: str
    unsubscribed: bool

    @property
    def masked_email(self) -> str:
        """``a***@example.com``: enough for the person to recognise, little for anyone else."""
        local, _, domain = self.email.partition("@")
        return f"{local[:1]}***@{domain}"


def find_recipient(session_factory: sessionmaker[Session], token: str, *, signer: LinkSigner) -> Recipient | None:
    """The recipient of an unsubscribe token, or ``None`` for a forged, altered or unknown one."""
    with session_factory() as session:
        return _recipient(session, token, signer)


def _recipient(session: Session, token: str, signer: LinkSigner) -> Recipient | None:
    query = select(ReferralRequest.id, Customer.email).join(
        Customer, Customer.customer_id == ReferralRequest.customer_id
    )
    request_id = signer.request_of_unsubscribe_token(token)
    if request_id is not None:
        row = session.execute(query.where(ReferralRequest.id == request_id)).first()
    elif len(token) != UNSUBSCRIBE_TOKEN_LENGTH and _LEGACY_TOKEN.fullmatch(token):
        row = session.execute(query.where(ReferralRequest.unsubscribe_token == token)).first()
    else:
        return None
    if row is None:
        return None
    found_id, email = row
    return Recipient(found_id, email, email.casefold() in suppressed_addresses(session, [email]))


def unsubscribe(
    session_factory: sessionmaker[Session], token: str, *, signer: LinkSigner, now: datetime
) -> Recipient | None:
    """Suppress the token's recipient and stop the request's follow-ups; ``None`` for a bad token."""
    recipient = find_recipient(session_factory, token, signer=signer)
    if recipient is None or recipient.unsubscribed:
        return recipient
    response = ResponseInput(
        kind=ResponseKind.UNSUBSCRIBED,
        occurred_at=now,
        source=SOURCE,
        referral_request_id=recipient.request_id,
        email=recipient.email,
    )
    record_responses(session_factory, [response], now=now)
    return Recipient(recipient.request_id, recipient.email, unsubscribed=True)


#: What ``suppress`` accepts: the suppressing kinds a back office records by hand.
SUPPRESSION_REASONS = (ResponseKind.UNSUBSCRIBED, ResponseKind.BOUNCED, ResponseKind.SPAM_REPORTED)


def suppress(
    session_factory: sessionmaker[Session], email: str, *, reason: ResponseKind, source: str, now: datetime
) -> bool:
    """Suppress ``email`` (an unsubscribe by phone, a bounce from another system) as a response
    without a request; whether the address was newly suppressed."""
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"not a suppression reason: {reason}")
    response = ResponseInput(kind=reason, occurred_at=now, source=source, email=email)
    return record_responses(session_factory, [response], now=now).suppressions_added == 1
