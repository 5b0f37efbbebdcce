"""Exactly once: crashes and re-runs never produce a second message."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest

from referral_automation.domain import identity
from referral_automation.domain.delivery import DeliveryOptions
from referral_automation.domain.responses import ResponseKind
from referral_automation.email.message import OutgoingEmail, SendOutcome
from referral_automation.email.senders.outbox import OutboxSender
from referral_automation.errors import AmbiguousDeliveryError
from referral_automation.services.responses.record import ResponseInput, record_responses
from referral_automation.services.sending import step as sending_step
from tests.support.send import (
    NOW,
    OPTIONS,
    Factory,
    FakeSender,
    add_customer,
    add_request,
    messages_of,
    request_row,
)
from tests.support.send import send_first_asks as run

AFTER_LEASE = NOW + OPTIONS.lease + timedelta(seconds=1)


class SimulatedCrashError(Exception):
    """The worker died (power cut, OOM kill) at the injected point."""


def crash_before_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies after the provider accepted: neither the record nor its fallback runs."""

    def crash(*args: object, **kwargs: object) -> None:
        raise SimulatedCrashError("killed after the provider accepted, before the status write")

    monkeypatch.setattr(sending_step, "record", crash)
    monkeypatch.setattr(sending_step, "settle_accepted", crash)


def test_outbox_crash_after_acceptance_gives_one_file(
    factory: Factory, outbox_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It writes no second .eml when a run dies after the outbox wrote the file, and settles the request."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    outbox = OutboxSender(outbox_dir, clock=lambda: NOW)
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, outbox)
    assert [p.name for p in outbox_dir.iterdir()] == [f"{identity.message_id(request_id, 0)}.eml"]
    assert request_row(factory, request_id).status == "sending"
    assert run(factory, outbox).claimed == 0  # the lease still holds: nobody touches it
    report = run(factory, outbox, now=AFTER_LEASE)
    assert report.sent == 1
    assert len(list(outbox_dir.iterdir())) == 1
    assert request_row(factory, request_id).status == "sent"
    [message] = messages_of(factory, request_id)
    assert (message.status, message.provider_message_id) == ("sent", f"{message.id}.eml")
    run(factory, outbox, now=AFTER_LEASE + timedelta(days=1))
    assert len(list(outbox_dir.iterdir())) == 1


def test_non_idempotent_sender_waits_for_the_reconcile_window(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It re-sends nothing through a non-idempotent sender before the reconcile window has passed."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, sender)
    report = run(factory, sender, now=AFTER_LEASE)
    assert (report.waiting, len(sender.handed)) == (1, 1)
    request = request_row(factory, request_id)
    assert request.status == "sending"
    assert request.lease_expires_at == NOW + OPTIONS.reconcile_after
    assert run(factory, sender, now=NOW + OPTIONS.reconcile_after - timedelta(seconds=1)).claimed == 0
    assert len(sender.handed) == 1


def test_provider_event_settles_an_unrecorded_send(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """It marks a send sent, without sending again, once the provider reported on the message."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, sender)
    record_responses(
        factory,
        [
            ResponseInput(
                kind=ResponseKind.DELIVERED,
                occurred_at=NOW + timedelta(minutes=1),
                source="sendgrid",
                referral_request_id=request_id,
                external_id="sg-event-1",
                details={"sequence_step": 0, "sg_message_id": "sg-abc.filter"},
            )
        ],
        now=NOW + timedelta(minutes=2),
    )
    report = run(factory, sender, now=NOW + OPTIONS.reconcile_after + timedelta(minutes=1))
    assert (report.settled, report.sent, len(sender.handed)) == (1, 0, 1)
    request = request_row(factory, request_id)
    assert (request.status, request.sent_at) == ("sent", NOW)
    assert request.next_followup_at is not None
    [message] = messages_of(factory, request_id)
    assert (message.status, message.provider_message_id) == ("sent", "sg-abc.filter")


def test_request_level_event_settles_the_first_ask(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """It accepts a provider event naming only the request as evidence for the first ask."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, sender)
    event = ResponseInput(ResponseKind.OPENED, NOW, "sendgrid", referral_request_id=request_id, external_id="e1")
    record_responses(factory, [event], now=NOW)
    assert run(factory, sender, now=AFTER_LEASE).settled == 1
    assert len(sender.handed) == 1


def test_no_evidence_after_the_window_sends_once_more(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """It sends again once the reconcile window passed without a provider event, and only once."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, sender)
    later = NOW + OPTIONS.reconcile_after
    report = run(factory, sender, now=later)
    assert (report.sent, sender.steps_for(request_id)) == (1, [0, 0])
    assert request_row(factory, request_id).status == "sent"
    run(factory, sender, now=later + timedelta(hours=1))
    assert sender.steps_for(request_id) == [0, 0]


def test_ambiguous_send_is_reconciled_not_retried(factory: Factory) -> None:
    """It leaves an ambiguous send alone until a provider event settles it, then never sends it again."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    outcomes = iter([AmbiguousDeliveryError("connection reset after the request was written")])

    def script(email: OutgoingEmail) -> SendOutcome | None:
        return next(outcomes, None)

    sender = FakeSender(script=script)
    assert run(factory, sender).ambiguous == 1
    message_id = identity.message_id(request_id, 0)
    event = ResponseInput(ResponseKind.PROCESSED, NOW, "sendgrid", message_id=message_id, external_id="p1")
    record_responses(factory, [event], now=NOW)
    assert run(factory, sender, now=NOW + OPTIONS.reconcile_after).settled == 1
    assert len(sender.handed) == 1
    assert request_row(factory, request_id).status == "sent"


def test_unanswered_sends_give_up_after_max_attempts(factory: Factory) -> None:
    """It fails a message that stayed ambiguous through every attempt instead of sending it for ever."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender(script=lambda email: AmbiguousDeliveryError("read timeout"))
    options = DeliveryOptions(max_attempts=2, worker="w")
    now = NOW
    for _ in range(4):
        run(factory, sender, now=now, options=options)
        now += options.reconcile_after
    assert len(sender.handed) == 2
    assert request_row(factory, request_id).status == "failed"
    assert messages_of(factory, request_id)[0].status == "failed"


def test_crash_before_the_provider_call_sends_once(factory: Factory, outbox_dir: Path) -> None:
    """It sends, once its lease ran out, a message whose worker died before handing it to the outbox
    (an idempotent sender: no ``sending`` row was written, the request's lease holds it)."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")

    class DyingOutbox(OutboxSender):
        def send_many(self, emails):  # type: ignore[no-untyped-def]
            raise SimulatedCrashError("killed between rendering and the provider call")

    with pytest.raises(SimulatedCrashError):
        run(factory, DyingOutbox(outbox_dir))
    assert messages_of(factory, request_id) == []
    assert request_row(factory, request_id).status == "sending"
    assert list(outbox_dir.iterdir()) == []
    assert run(factory, OutboxSender(outbox_dir, clock=lambda: NOW)).claimed == 0  # leased
    outbox = OutboxSender(outbox_dir, clock=lambda: NOW)
    assert run(factory, outbox, now=AFTER_LEASE).sent == 1
    assert len(list(outbox_dir.iterdir())) == 1


def test_crash_after_a_resend_waits_a_full_window_again(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """It counts the reconcile window from the latest attempt, not from the first one."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, sender)
        resend_at = NOW + OPTIONS.reconcile_after
        with pytest.raises(SimulatedCrashError):
            run(factory, sender, now=resend_at)
    assert sender.steps_for(request_id) == [0, 0]
    report = run(factory, sender, now=resend_at + OPTIONS.lease + timedelta(seconds=1))
    assert (report.waiting, len(sender.handed)) == (1, 2)


def test_a_send_left_by_another_provider_waits_for_the_window(
    factory: Factory, outbox_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It does not trust the outbox's idempotency for a message another provider may have sent."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    with monkeypatch.context() as patch:
        crash_before_recording(patch)
        with pytest.raises(SimulatedCrashError):
            run(factory, FakeSender(name="sendgrid"))
    outbox = OutboxSender(outbox_dir, clock=lambda: NOW)
    assert run(factory, outbox, now=AFTER_LEASE).waiting == 1
    assert list(outbox_dir.iterdir()) == []
    assert request_row(factory, request_id).status == "sending"


def test_many_reruns_write_one_file_per_message(factory: Factory, outbox_dir: Path) -> None:
    """It writes exactly one .eml per request over repeated runs of the whole send."""
    for n in range(5):
        add_customer(factory, f"c{n}")
        add_request(factory, f"c{n}")
    outbox = OutboxSender(outbox_dir, clock=lambda: NOW)
    for minutes in (0, 0, 30, 60):
        run(factory, outbox, now=NOW + timedelta(minutes=minutes), options=DeliveryOptions(batch_size=2))
    assert len(list(outbox_dir.glob("*.eml"))) == 5


def test_a_record_that_fails_after_the_provider_accepted_settles_and_never_resends(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It marks the message sent with the provider's id when recording its outcome fails (a value
    out of range, a lost connection), so no later run sends it again, and names the error."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender()

    def broken(*args: object, **kwargs: object) -> None:
        raise OverflowError("date value out of range")

    with monkeypatch.context() as patch:
        patch.setattr(sending_step, "record", broken)
        with pytest.raises(OverflowError):
            run(factory, sender)
    for later in (AFTER_LEASE, NOW + OPTIONS.reconcile_after, NOW + timedelta(days=3)):
        run(factory, sender, now=later)

    assert sender.steps_for(request_id) == [0]
    request = request_row(factory, request_id)
    assert (request.status, request.next_followup_at, request.lease_expires_at) == ("sent", None, None)
    assert "OverflowError: date value out of range" in (request.last_error or "")
    [message] = messages_of(factory, request_id)
    assert (message.status, message.provider_message_id) == ("sent", f"fake-{message.id}")


def test_a_worker_that_dies_after_every_send_gives_up_after_max_attempts(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It counts each attempt when it is made, so a message whose outcome is never recorded is
    sent at most ``max_attempts`` times, then failed."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    options = DeliveryOptions(max_attempts=3, worker="w")
    now = NOW
    for _ in range(6):
        with monkeypatch.context() as patch:
            crash_before_recording(patch)
            with contextlib.suppress(SimulatedCrashError):
                run(factory, sender, now=now, options=options)
        now += options.reconcile_after + options.lease
    run(factory, sender, now=now, options=options)  # a worker that lives to record the verdict

    assert len(sender.handed) == 3
    assert request_row(factory, request_id).status == "failed"
