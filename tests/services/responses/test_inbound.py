"""Inbound replies: matched by signed address, thread or authenticated sender; classified; kept once."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Message, Response
from referral_automation.domain import identity
from referral_automation.domain.responses import ResponseKind
from referral_automation.errors import NotFoundError
from referral_automation.services.links.signer import LinkSigner
from referral_automation.services.responses.inbound import InboundMail, parse_inbound, record_inbound
from tests.support.links import SIGNING_KEY
from tests.support.send import NOW, request_row
from tests.support.web import sent_request

Factory = sessionmaker[Session]
SIGNER = LinkSigner(SIGNING_KEY, "reply@in.example.com")


def mail(text: str = "OK!", **fields: object) -> InboundMail:
    values: dict[str, object] = {"sender": "someone@else.example", "recipients": (), "subject": "Re: hi", "text": text}
    values.update(html=None, headers={}, authenticated=False)
    values.update(fields)
    return InboundMail(**values)  # type: ignore[arg-type]


def stored(factory: Factory) -> list[Response]:
    with factory() as session:
        return list(session.execute(select(Response)).scalars())


def test_the_signed_reply_address_names_the_request(factory: Factory) -> None:
    """It finds the request from a reply+token address even when someone else answers, and stops its follow-ups."""
    request_id, _ = sent_request(factory, "ann")
    reply = mail(recipients=("Team <" + SIGNER.reply_to(request_id) + ">",))  # type: ignore[operator]
    result = record_inbound(factory, reply, signer=SIGNER, now=NOW)
    assert (result.kind, result.referral_request_id, result.matched_by) == (
        ResponseKind.REPLIED_OK,
        request_id,
        "reply_address",
    )
    assert request_row(factory, request_id).next_followup_at is None


def test_a_forged_token_names_nothing(factory: Factory) -> None:
    """It ignores a reply address whose token was altered, and keeps the reply without a request."""
    request_id, _ = sent_request(factory, "ann")
    address = SIGNER.reply_to(request_id)
    assert address is not None
    forged = address.replace("+a", "+b", 1) if "+a" in address else address.replace("+", "+a", 1)
    result = record_inbound(factory, mail(recipients=(forged,)), signer=SIGNER, now=NOW)
    assert result.referral_request_id is None
    assert stored(factory)[0].details["from"] == "someone@else.example"


def test_in_reply_to_names_the_message_answered(factory: Factory) -> None:
    """It finds the request from In-Reply-To naming the first ask's Message-ID."""
    request_id, _ = sent_request(factory, "ann")
    message_id = identity.message_id(request_id, 0)
    with factory() as session, session.begin():
        session.execute(
            insert(Message),
            {"id": message_id, "referral_request_id": request_id, "sequence_step": 0, "status": "sent",
             "provider": "outbox", "subject": "s", "content_hash": "h", "created_at": NOW},
        )  # fmt: skip
    headers = {"in-reply-to": f"<{message_id}@acme.example>", "message-id": "<r1@mail.example>"}
    result = record_inbound(factory, mail("Sure thing", headers=headers), signer=SIGNER, now=NOW)
    assert (result.kind, result.referral_request_id, result.matched_by) == (
        ResponseKind.REPLIED,
        request_id,
        "in_reply_to",
    )
    assert stored(factory)[0].details["text"] == "Sure thing"


def test_the_sender_counts_only_when_authenticated(factory: Factory) -> None:
    """It matches by the sender's address only when SendGrid saw it pass SPF or DKIM."""
    request_id, _ = sent_request(factory, "ann")
    forged = record_inbound(factory, mail(sender="ann@example.com", text="ok 1"), signer=SIGNER, now=NOW)
    genuine = record_inbound(
        factory, mail(sender="ann@example.com", authenticated=True, text="ok 2"), signer=SIGNER, now=NOW
    )
    assert (forged.referral_request_id, genuine.referral_request_id) == (None, request_id)


def test_an_out_of_office_changes_nothing(factory: Factory) -> None:
    """It keeps an auto-reply as auto_replied: not an OK, and the follow-ups go on."""
    request_id, _ = sent_request(factory, "ann")
    reply = mail(
        "OK, I am out until Monday",
        recipients=(SIGNER.reply_to(request_id),),
        headers={"auto-submitted": "auto-replied"},
    )
    result = record_inbound(factory, reply, signer=SIGNER, now=NOW)
    assert result.kind is ResponseKind.AUTO_REPLIED
    assert request_row(factory, request_id).next_followup_at is not None


def test_a_retried_post_is_recorded_once(factory: Factory) -> None:
    """It records a reply SendGrid posts twice (same Message-ID) once."""
    sent_request(factory, "ann")
    reply = mail(headers={"message-id": "<abc@mail.example>"})
    first = record_inbound(factory, reply, signer=SIGNER, now=NOW)
    second = record_inbound(factory, reply, signer=SIGNER, now=NOW)
    assert (first.recorded, second.recorded, len(stored(factory))) == (True, False, 1)


def test_a_named_request_must_exist(factory: Factory) -> None:
    """It refuses a back-office reply naming a request that does not exist."""
    with pytest.raises(NotFoundError):
        record_inbound(factory, mail(), signer=SIGNER, now=NOW, request_id="00000000-0000-0000-0000-000000000000")


def test_both_modes_of_inbound_parse_are_read() -> None:
    """It reads the parsed fields (headers, text, envelope, SPF) and the raw message alike."""
    parsed = parse_inbound(
        {
            "from": "Ann <ann@example.com>",
            "to": "reply+abc@in.example.com",
            "envelope": '{"to": ["reply+def@in.example.com"], "from": "ann@example.com"}',
            "headers": "In-Reply-To: <x@y>\r\nAuto-Submitted: no\r\nMessage-ID: <m@x>\r\n",
            "text": "OK",
            "subject": "Re: hi",
            "SPF": "pass",
        }
    )
    assert parsed.sender == "ann@example.com"
    assert parsed.recipients == ("reply+abc@in.example.com", "reply+def@in.example.com")
    assert (parsed.headers["in-reply-to"], parsed.authenticated, parsed.text) == ("<x@y>", True, "OK")
    raw = parse_inbound(
        {
            "email": "From: ann@example.com\r\nTo: reply+abc@in.example.com\r\nSubject: Re\r\n"
            'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; '
            "charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nOK, gern=E9\r\n--b--\r\n",
            "dkim": "{@example.com : pass}",
        }
    )
    assert (raw.sender, raw.text, raw.authenticated) == ("ann@example.com", "OK, gerné", True)
