"""Unsubscribe links: signed tokens name their recipient, old links still work, forgeries name nobody."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Response, Suppression
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.unsubscribe import find_recipient, suppress, unsubscribe
from tests.support.links import SIGNING_KEY
from tests.support.send import NOW, request_row
from tests.support.web import sent_request

Factory = sessionmaker[Session]
SIGNER = LinkSigner(SIGNING_KEY)


def suppressions(factory: Factory) -> dict[str, str]:
    with factory() as session:
        return {row.email: row.reason for row in session.execute(select(Suppression)).scalars()}


def test_unsubscribing_suppresses_the_address_and_stops_follow_ups(factory: Factory) -> None:
    """It suppresses the recipient and clears the request's next follow-up; twice changes nothing."""
    request_id, _ = sent_request(factory, "ann")
    token = SIGNER.unsubscribe_token(request_id)
    recipient = unsubscribe(factory, token, signer=SIGNER, now=NOW)
    assert recipient is not None
    assert (recipient.email, recipient.unsubscribed, recipient.masked_email) == (
        "ann@example.com",
        True,
        "a***@example.com",
    )
    assert suppressions(factory) == {"ann@example.com": "unsubscribed"}
    assert request_row(factory, request_id).next_followup_at is None
    unsubscribe(factory, token, signer=SIGNER, now=NOW)
    with factory() as session:
        assert len(list(session.execute(select(Response)).scalars())) == 1


def test_links_sent_before_signed_tokens_still_work(factory: Factory) -> None:
    """It finds the recipient of an old random token stored with the request."""
    legacy = secrets.token_urlsafe(16)
    request_id, _ = sent_request(factory, "ann", unsubscribe_token=legacy)
    recipient = find_recipient(factory, legacy, signer=SIGNER)
    assert recipient is not None
    assert recipient.request_id == request_id


@pytest.mark.parametrize("mangle", ["flip", "other-key", "truncate", "garbage"])
def test_forged_or_altered_tokens_name_nobody(factory: Factory, mangle: str) -> None:
    """It finds nobody for a token altered by one character, signed with another key, cut, or made up."""
    request_id, _ = sent_request(factory, "ann")
    token = SIGNER.unsubscribe_token(request_id)
    forged = {
        "flip": token[:10] + ("A" if token[10] != "A" else "B") + token[11:],
        "other-key": LinkSigner(b"another-key-0123456789abcdef!!!!").unsubscribe_token(request_id),
        "truncate": token[:-1],
        "garbage": "' OR 1=1 --",
    }[mangle]
    assert find_recipient(factory, forged, signer=SIGNER) is None
    assert unsubscribe(factory, forged, signer=SIGNER, now=NOW) is None
    assert suppressions(factory) == {}


def test_an_address_is_suppressed_by_hand_once(factory: Factory) -> None:
    """It suppresses an address without a request, and says so only the first time."""
    assert suppress(factory, "bob@corp.example", reason=ResponseKind.BOUNCED, source="cli", now=NOW)
    assert not suppress(factory, "bob@corp.example", reason=ResponseKind.BOUNCED, source="cli", now=NOW)
    assert suppressions(factory) == {"bob@corp.example": "bounced"}
