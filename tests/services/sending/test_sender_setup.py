"""A sender that cannot build a request: the batch gives its messages back and fails, nothing waits."""

from __future__ import annotations

import http.client
from datetime import timedelta

import pytest

from referral_automation.email.message import OutgoingEmail, SendOutcome
from referral_automation.email.senders.sendgrid_fake import FakeSendGrid
from referral_automation.errors import SenderSetupError
from referral_automation.services.sending.follow_ups import send_follow_ups
from tests.support.send import (
    FIRST_FOLLOW_UP,
    OPTIONS,
    Factory,
    FakeSender,
    add_customer,
    add_request,
    fake_composer,
    messages_of,
    request_row,
    sent_request,
    shipped_config,
)
from tests.support.send import send_first_asks as run
from tests.support.sendgrid import fast_sender

SETUP = "message m: not sent: SENDGRID_API_HOST is 'api.sendgrid.com': no request can be built to it"


def unbuildable(email: OutgoingEmail) -> SendOutcome:
    return SenderSetupError(SETUP)


def test_a_setup_error_gives_the_first_asks_back_and_fails_the_batch(factory: Factory) -> None:
    """It leaves no request or message ``sending``: the requests are scheduled again, due now, with no
    attempt counted and the reason in ``last_error``, and the run raises the error instead of
    calling the sends ambiguous."""
    add_customer(factory, "ann")
    add_customer(factory, "bob")
    requests = [add_request(factory, "ann"), add_request(factory, "bob")]

    with pytest.raises(SenderSetupError, match="SENDGRID_API_HOST"):
        run(factory, FakeSender(script=unbuildable))

    for request_id in requests:
        request = request_row(factory, request_id)
        assert (request.status, request.attempts, request.lease_owner) == ("scheduled", 0, None)
        assert request.last_error == SETUP
        [message] = messages_of(factory, request_id)
        assert message.status == "retry"
    fixed = FakeSender()
    assert run(factory, fixed).sent == 2  # at once, once the setting is fixed: no reconcile window
    assert sorted(email.referral_request_id for email in fixed.handed) == sorted(requests)


def test_a_setup_error_gives_a_follow_up_back(factory: Factory) -> None:
    """It leaves a follow-up due as it was, its attempts untouched, when no request can be built."""
    request_id = sent_request(factory, FakeSender())

    with pytest.raises(SenderSetupError):
        send_follow_ups(
            factory,
            config=shipped_config(),
            sender=FakeSender(script=unbuildable),
            composer=fake_composer,
            now=FIRST_FOLLOW_UP,
            options=OPTIONS,
        )

    request = request_row(factory, request_id)
    assert (request.followups_sent, request.next_followup_at, request.attempts) == (0, FIRST_FOLLOW_UP, 0)
    assert request.lease_owner is None
    assert [message.status for message in messages_of(factory, request_id)] == ["sent", "retry"]


def test_the_real_sender_failing_to_build_leaves_nothing_sending(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It records no ambiguous send when urllib refuses to build the request (a ValueError before any
    byte is written), through the real SendGridSender and a fake SendGrid that hears nothing."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    with FakeSendGrid() as fake:
        sender = fast_sender(fake.url)
        real_putheader = http.client.HTTPConnection.putheader

        def refuse_authorization(self: http.client.HTTPConnection, header: str, *values: str) -> None:
            if header.lower() == "authorization":
                raise ValueError(f"Invalid header value {values!r}")
            real_putheader(self, header, *values)

        monkeypatch.setattr(http.client.HTTPConnection, "putheader", refuse_authorization)
        with pytest.raises(SenderSetupError, match="cannot go into a request header"):
            run(factory, sender)
        assert fake.received == []

    request = request_row(factory, request_id)
    assert (request.status, request.attempts) == ("scheduled", 0)
    assert request.lease_expires_at is None
    assert [message.status for message in messages_of(factory, request_id)] == ["retry"]
    assert "secretpart" not in (request.last_error or "")
    assert run(factory, FakeSender(), now=request.scheduled_for + timedelta(seconds=1)).sent == 1
