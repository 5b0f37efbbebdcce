"""SendGridSender against a local fake SendGrid: retries, permanent errors, ambiguous outcomes, batches."""

from __future__ import annotations

import pytest

from referral_automation.email.message import EmailSender, SendResult
from referral_automation.email.senders.sendgrid import MAX_RATE_LIMIT_WAIT, CredentialsRefusedError, OutOfTimeError
from referral_automation.email.senders.sendgrid_fake import FakeSendGrid
from referral_automation.errors import AmbiguousDeliveryError, PermanentDeliveryError, RetryableDeliveryError
from tests.support.sendgrid import FakeClock, closed_port_url, fast_sender, sample_email


def test_accepted_message_returns_the_provider_message_id(fake: FakeSendGrid) -> None:
    """It returns SendGrid's X-Message-Id for an accepted message, sent once."""
    sender = fast_sender(fake.url)
    assert isinstance(sender, EmailSender)
    assert (sender.name, sender.idempotent) == ("sendgrid", False)
    result = sender.send(sample_email())
    assert result == SendResult(provider="sendgrid", provider_message_id="fake0000000001")
    assert fake.accepted == {("req-1", 0): 1}


def test_sandbox_answer_200_without_message_id_is_accepted(fake: FakeSendGrid) -> None:
    """It takes sandbox mode's 200 without X-Message-Id as a successful send."""
    assert fast_sender(fake.url, sandbox_mode=True).send(sample_email()).provider_message_id is None
    body = fake.received[0].body
    assert body is not None
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert fake.accepted_total == 0


def test_5xx_is_retried_with_growing_jittered_backoff(fake: FakeSendGrid) -> None:
    """It retries a 503 with exponential backoff and jitter, then succeeds once."""
    clock = FakeClock()
    fake.plan("unavailable", "unavailable")
    result = fast_sender(fake.url, clock).send(sample_email())
    assert result.provider_message_id is not None
    assert len(fake.received) == 3
    assert fake.accepted == {("req-1", 0): 1}
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0


def test_retries_are_bounded(fake: FakeSendGrid) -> None:
    """It gives up after max_attempts with a retryable error when SendGrid stays unavailable."""
    clock = FakeClock()
    fake.default = "unavailable"
    with pytest.raises(RetryableDeliveryError, match="503: service unavailable"):
        fast_sender(fake.url, clock, max_attempts=3).send(sample_email())
    assert len(fake.received) == 3
    assert len(clock.sleeps) == 2
    assert fake.accepted_total == 0


def test_429_waits_until_the_rate_limit_reset(fake: FakeSendGrid) -> None:
    """It waits for X-RateLimit-Reset after a 429 before trying again."""
    clock = FakeClock()
    fake.reset_after = 30
    fake.plan("rate_limit")
    fast_sender(fake.url, clock).send(sample_email())
    assert len(fake.received) == 2
    assert 28.5 <= sum(clock.sleeps) <= 31.0
    assert fake.accepted == {("req-1", 0): 1}


def test_429_with_a_long_reset_ends_the_attempts_with_retry_after(fake: FakeSendGrid) -> None:
    """It stops at once when SendGrid asks for a pause longer than it holds a thread, and says how long."""
    clock = FakeClock()
    fake.reset_after = MAX_RATE_LIMIT_WAIT + 100
    fake.default = "rate_limit"
    with pytest.raises(RetryableDeliveryError) as caught:
        fast_sender(fake.url, clock).send(sample_email())
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > MAX_RATE_LIMIT_WAIT
    assert len(fake.received) == 1


def test_400_is_permanent_with_sendgrids_message_and_never_retried(fake: FakeSendGrid) -> None:
    """It fails a 400 for good with SendGrid's error message and the field it names, after one request."""
    fake.plan("bad_request")
    with pytest.raises(PermanentDeliveryError) as caught:
        fast_sender(fake.url, FakeClock()).send(sample_email())
    assert "The from email does not contain a valid address. (from.email)" in str(caught.value)
    assert "400" in str(caught.value)
    assert len(fake.received) == 1


def test_refused_connection_is_retried_then_reported_retryable() -> None:
    """It retries a refused connection (nothing was sent) a bounded number of times."""
    clock = FakeClock()
    with pytest.raises(RetryableDeliveryError, match="cannot reach SendGrid"):
        fast_sender(closed_port_url(), clock, max_attempts=3).send(sample_email())
    assert len(clock.sleeps) == 2


def test_cut_after_acceptance_is_ambiguous_and_not_retried(fake: FakeSendGrid) -> None:
    """It reports a connection lost after SendGrid read the message as ambiguous and never sends it again."""
    fake.plan("cut_after_accept")
    with pytest.raises(AmbiguousDeliveryError):
        fast_sender(fake.url, FakeClock()).send(sample_email())
    assert len(fake.received) == 1
    assert fake.accepted == {("req-1", 0): 1}


def test_read_timeout_is_ambiguous_and_not_retried(fake: FakeSendGrid) -> None:
    """It reports a response slower than the timeout as ambiguous, after one request."""
    fake.slow_seconds = 1.5
    fake.plan("slow")
    with pytest.raises(AmbiguousDeliveryError, match="no answer from SendGrid"):
        fast_sender(fake.url, FakeClock(), timeout_seconds=0.3).send(sample_email())
    assert len(fake.received) == 1


def test_slow_answer_within_the_timeout_is_accepted(fake: FakeSendGrid) -> None:
    """It waits for a slow answer that arrives within the timeout."""
    fake.slow_seconds = 0.3
    fake.plan("slow")
    assert fast_sender(fake.url, FakeClock(), timeout_seconds=5).send(sample_email()).provider_message_id
    assert fake.accepted == {("req-1", 0): 1}


def test_cut_before_acceptance_never_accepts_twice(fake: FakeSendGrid) -> None:
    """It either retries a reset that came before acceptance or calls it ambiguous; never two acceptances."""
    fake.plan("cut_before_body")
    try:
        fast_sender(fake.url, FakeClock()).send(sample_email())
    except AmbiguousDeliveryError:
        assert fake.accepted_total == 0  # reconciled later by the send service
    else:
        assert fake.accepted == {("req-1", 0): 1}
    assert fake.duplicates() == {}


def test_send_many_keeps_order_and_sends_each_once(fake: FakeSendGrid) -> None:
    """It sends a batch concurrently and returns one outcome per message in order, each accepted once."""
    fake.latency = 0.02
    emails = [sample_email(f"req-{i}") for i in range(40)]
    fake.plan("bad_request", message_id=emails[3].message_id)
    fake.plan("unavailable", message_id=emails[5].message_id)
    fake.plan("cut_after_accept", message_id=emails[7].message_id)
    outcomes = fast_sender(fake.url, concurrency=8).send_many(emails)
    assert len(outcomes) == 40
    assert isinstance(outcomes[3], PermanentDeliveryError)
    assert isinstance(outcomes[5], SendResult)
    assert isinstance(outcomes[7], AmbiguousDeliveryError)
    assert sum(isinstance(o, SendResult) for o in outcomes) == 38
    assert fake.duplicates() == {}
    assert fake.accepted_total == 39
    accepted_ids = {r.body["personalizations"][0]["custom_args"]["message_id"] for r in fake.received if r.body}
    assert {e.message_id for e in emails} == accepted_ids


def test_send_many_of_nothing_sends_nothing(fake: FakeSendGrid) -> None:
    """It returns an empty list for an empty batch."""
    assert fast_sender(fake.url).send_many([]) == []
    assert fake.received == []


def test_refused_credentials_stop_the_batch(fake: FakeSendGrid) -> None:
    """It stops calling SendGrid once the API key is refused, and leaves every message retryable."""
    fake.default = "unauthorized"
    emails = [sample_email(f"req-{i}") for i in range(10)]
    outcomes = fast_sender(fake.url, FakeClock(), concurrency=1).send_many(emails)
    assert all(isinstance(o, CredentialsRefusedError) for o in outcomes)
    assert "check SENDGRID_API_KEY" in str(outcomes[0])
    assert len(fake.received) == 1


def test_batch_starts_no_attempt_after_its_time_limit(fake: FakeSendGrid) -> None:
    """It stops trying once the batch's time limit passed, leaving the untried messages retryable and unsent."""
    clock = FakeClock()
    fake.default = "unavailable"
    emails = [sample_email(f"req-{i}") for i in range(3)]
    sender = fast_sender(fake.url, clock, concurrency=1, max_attempts=20, batch_time_limit_seconds=10)
    first, *rest = sender.send_many(emails)
    assert isinstance(first, OutOfTimeError)
    assert all(isinstance(outcome, OutOfTimeError) for outcome in rest)
    assert 10 <= sum(clock.sleeps) < 10 + 20  # one backoff step at most beyond the limit
    assert {r.key for r in fake.received} == {("req-0", 0)}
    assert fake.accepted_total == 0
