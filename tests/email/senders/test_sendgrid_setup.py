"""A SendGrid set-up no request can be built from: refused before anything is sent, never ambiguous."""

from __future__ import annotations

import http.client
import time

import pytest
from pydantic import SecretStr

from referral_automation.email.senders.sendgrid import SendGridSender
from referral_automation.email.senders.sendgrid_fake import FakeSendGrid
from referral_automation.errors import AmbiguousDeliveryError, SenderSetupError
from tests.support.sendgrid import API_KEY, FakeClock, fast_sender, sample_email


@pytest.mark.parametrize(
    ("host", "key", "message"),
    [
        ("api.sendgrid.com", API_KEY, "SENDGRID_API_HOST is 'api.sendgrid.com': no request can be built to it"),
        ("", API_KEY, "SENDGRID_API_HOST is '': no request can be built to it"),
        ("https://api.sendgrid.com:44x", API_KEY, "SENDGRID_API_HOST is 'https://api.sendgrid.com:44x': no request"),
        ("https://api.sendgrid.com", API_KEY + "\n", "the SendGrid API key cannot go into a request header"),
        ("https://api.sendgrid.com", API_KEY + "\r", "the SendGrid API key cannot go into a request header"),
    ],
    ids=["host without a scheme", "empty host", "bad port", "key with a newline", "key with a carriage return"],
)
def test_a_sender_no_request_can_be_built_from_is_refused_at_once(host: str, key: str, message: str) -> None:
    """It raises a SenderSetupError when built, naming the setting and never quoting the key."""
    with pytest.raises(SenderSetupError) as caught:
        SendGridSender(SecretStr(key), host=host)
    assert str(caught.value).startswith(message)
    assert "secretpart" not in str(caught.value)


_putheader = http.client.HTTPConnection.putheader


def _broken_authorization(self: http.client.HTTPConnection, header: str, *values: str) -> None:
    """http.client refusing the Authorization header, as it does a value with a line break."""
    if header.lower() == "authorization":
        raise ValueError(f"Invalid header value {values!r}")
    _putheader(self, header, *values)


def test_a_request_that_cannot_be_built_is_not_ambiguous(fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    """It turns a ValueError raised while the request is being built (before any byte is written) into a
    SenderSetupError: not retried, the rest of the batch not tried, nothing reaching SendGrid, and the
    key (which the error quotes) not in the message."""
    clock = FakeClock()
    sender = fast_sender(fake.url, clock)
    monkeypatch.setattr(http.client.HTTPConnection, "putheader", _broken_authorization)

    outcomes = sender.send_many([sample_email("req-1"), sample_email("req-2")])

    assert all(isinstance(outcome, SenderSetupError) for outcome in outcomes)
    assert not any(isinstance(outcome, AmbiguousDeliveryError) for outcome in outcomes)
    assert "not sent: the SendGrid API key cannot go into a request header" in str(outcomes[0])
    assert "secretpart" not in str(outcomes[0])
    assert fake.received == []
    assert clock.sleeps == []


def test_an_unbuildable_host_in_a_running_sender_is_not_ambiguous(fake: FakeSendGrid) -> None:
    """It says the host cannot be used (urllib's ValueError inside the send) instead of "no answer"."""
    sender = fast_sender(fake.url)
    sender._host = "api.sendgrid.com"  # as if the check at construction had been skipped

    with pytest.raises(SenderSetupError, match=r"not sent: SENDGRID_API_HOST is 'api\.sendgrid\.com'"):
        sender.send(sample_email())
    assert fake.received == []


def test_a_value_error_while_reading_the_answer_stays_ambiguous(
    fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It keeps "ambiguous" for a ValueError raised once the request was written: SendGrid may have it."""
    sender = fast_sender(fake.url)

    def garbled(self: http.client.HTTPResponse) -> None:
        raise ValueError("garbled status line")

    monkeypatch.setattr(http.client.HTTPResponse, "begin", garbled)
    with pytest.raises(AmbiguousDeliveryError, match="garbled status line"):
        sender.send(sample_email())
    deadline = time.monotonic() + 5
    while not fake.received and time.monotonic() < deadline:  # the fake records after the client gave up
        time.sleep(0.01)
    assert len(fake.received) == 1
