"""An idempotent sender's message rows: written once, with the outcome, as the two writes would leave them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from referral_automation.db.models import Message
from referral_automation.db.session import session_factory
from referral_automation.email.message import OutgoingEmail, SendOutcome
from referral_automation.email.senders.outbox import OutboxSender
from referral_automation.errors import PermanentDeliveryError, RetryableDeliveryError
from referral_automation.services.sending.deliver import content_hash
from referral_automation.services.sending.first_asks import send_batch
from referral_automation.services.sending.follow_ups import send_follow_ups
from tests.support.send import (
    NOW,
    OPTIONS,
    Factory,
    FakeSender,
    add_customer,
    add_request,
    fake_composer,
    messages_of,
    request_row,
    shipped_config,
    transactions_begun,
)
from tests.support.send import send_first_asks as send_with

#: What a message row holds once recorded (its id and times compared apart).
COLUMNS = ("sequence_step", "status", "provider", "provider_message_id", "subject", "content_hash", "error")


def row_of(message: Message) -> dict[str, Any]:
    """Its columns, the provider's id as whether there is one (the fake's ids differ by sender)."""
    return {column: getattr(message, column) for column in COLUMNS} | {
        "provider_message_id": bool(message.provider_message_id),
        "created_at": message.created_at,
        "sent_at": message.sent_at,
    }


def refuse(email: OutgoingEmail) -> SendOutcome:
    return PermanentDeliveryError("mailbox does not exist")


@pytest.mark.parametrize("script", [None, refuse], ids=["accepted", "refused"])
def test_rows_match_the_sending_row_protocol(db_url: str, script: Any) -> None:
    """It leaves the same message row through an idempotent sender (one write) as through a
    non-idempotent one (a ``sending`` row, then its outcome)."""
    rows = []
    for idempotent in (False, True):
        factory = session_factory(db_url)
        customer = add_customer(factory, f"c{idempotent}-{script is None}")
        request_id = add_request(factory, customer)
        sender = FakeSender(idempotent=idempotent, script=script)
        send_with(factory, sender)
        [message] = messages_of(factory, request_id)
        [email] = sender.handed
        assert (message.id, message.subject, message.content_hash) == (
            email.message_id, email.subject, content_hash(email),
        )  # fmt: skip
        rows.append(row_of(message) | {"subject": None, "content_hash": None})
    assert rows[0] == rows[1]
    assert rows[1]["status"] == ("sent" if script is None else "failed")
    assert rows[1]["created_at"] == NOW


def test_no_row_is_written_before_an_idempotent_send(factory: Factory) -> None:
    """It hands an idempotent sender its messages before writing any message row."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    rows_when_handed: list[int] = []

    def look(email: OutgoingEmail) -> None:
        rows_when_handed.append(len(messages_of(factory, request_id)))

    send_with(factory, FakeSender(idempotent=True, script=look))
    assert rows_when_handed == [0]
    assert messages_of(factory, request_id)[0].status == "sent"


def test_an_idempotent_batch_takes_two_transactions(factory: Factory) -> None:
    """It claims (reading what earlier runs left) in one transaction and records in one: the
    ``sending`` rows' transaction, a turn of SQLite's write lock, is left out."""
    for name in ("ann", "bob"):
        add_customer(factory, name)
        add_request(factory, name)
    with transactions_begun(factory) as begun:
        report = send_batch(
            factory, config=shipped_config(), sender=FakeSender(idempotent=True), composer=fake_composer,
            now=NOW, options=OPTIONS,
        )  # fmt: skip
    assert report.sent == 2
    assert len(begun) == 2


def test_a_retried_outbox_send_reuses_its_row(factory: Factory, tmp_path: Path) -> None:
    """It keeps one row per message when an idempotent send is retried: the row of the failed
    attempt becomes the sent one, stamped with the attempt that went through."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")

    def full_disk(email: OutgoingEmail) -> SendOutcome:
        return RetryableDeliveryError("no space left on device")

    send_with(factory, FakeSender(idempotent=True, script=full_disk))
    [failed] = messages_of(factory, request_id)
    assert (failed.status, failed.error) == ("retry", "no space left on device")
    later = request_row(factory, request_id).scheduled_for
    outbox = OutboxSender(tmp_path / "outbox", clock=lambda: later)
    assert send_with(factory, outbox, now=later).sent == 1
    [sent] = messages_of(factory, request_id)
    assert (sent.id, sent.status, sent.error, sent.created_at, sent.sent_at) == (
        failed.id, "sent", None, later, later,
    )  # fmt: skip
    assert sent.provider == "outbox"


def test_follow_ups_through_the_outbox_write_one_row_each(factory: Factory, tmp_path: Path) -> None:
    """It records the first ask and both follow-ups sent through the outbox, a row each."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    outbox = OutboxSender(tmp_path / "outbox", clock=lambda: NOW)
    send_with(factory, outbox)
    config = shipped_config()
    for _ in range(2):
        due = request_row(factory, request_id).next_followup_at
        assert due is not None
        send_follow_ups(factory, config=config, sender=outbox, composer=fake_composer, now=due, options=OPTIONS)
    messages = messages_of(factory, request_id)
    assert [(m.sequence_step, m.status) for m in messages] == [(0, "sent"), (1, "sent"), (2, "sent")]
    assert len(list((tmp_path / "outbox").iterdir())) == 3
