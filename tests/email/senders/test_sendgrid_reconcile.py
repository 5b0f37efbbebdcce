"""SendGrid through the send service: faults and ambiguous sends never give a second or a lost message."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from referral_automation.domain import identity
from referral_automation.domain.delivery import DeliveryOptions
from referral_automation.email.senders.sendgrid import SendGridSender
from referral_automation.email.senders.sendgrid_fake import Behaviour, FakeSendGrid, message_key
from referral_automation.services.responses.provider_events import record_sendgrid_events
from referral_automation.services.sending.first_asks import send_due
from tests.support.send import (
    NOW,
    Factory,
    add_customer,
    add_request,
    fake_composer,
    messages_of,
    request_row,
    shipped_config,
)
from tests.support.sendgrid import FakeClock, fast_sender

OPTIONS = DeliveryOptions(batch_size=50, worker="sendgrid-test", reconcile_after=timedelta(minutes=30))
_event_ids = itertools.count(1)


def sender_for(fake: FakeSendGrid) -> SendGridSender:
    return fast_sender(fake.url, FakeClock(), timeout_seconds=0.3, max_attempts=3, concurrency=8)


def run(factory: Factory, sender: SendGridSender, now: datetime) -> Any:
    return send_due(factory, config=shipped_config(), sender=sender, composer=fake_composer, now=now, options=OPTIONS)


def webhook(factory: Factory, fake: FakeSendGrid, now: datetime, delivered: set[int]) -> None:
    """SendGrid's Event Webhook: one ``processed`` event for each request the fake accepted since last time."""
    events = []
    for index, received in enumerate(fake.received):
        key, message_id = message_key(received.body)
        if index in delivered or key is None or received.behaviour not in ("accept", "cut_after_accept", "slow"):
            continue
        delivered.add(index)
        events.append(
            {"sg_event_id": f"sg-{next(_event_ids)}", "event": "processed", "email": "x@example.com",
             "timestamp": int(now.timestamp()), "sg_message_id": f"fake{index}.filter",
             "referral_request_id": key[0], "sequence_step": str(key[1]), "message_id": message_id}
        )  # fmt: skip
    record_sendgrid_events(factory, events, now=now, public_base_url="http://localhost:8000")


def test_accepted_but_unanswered_send_is_settled_by_its_event(factory: Factory, fake: FakeSendGrid) -> None:
    """It leaves a send that lost its answer `sending`, and settles it from SendGrid's event without sending again."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = sender_for(fake)
    fake.plan("cut_after_accept")
    assert run(factory, sender, NOW).ambiguous == 1
    assert request_row(factory, request_id).status == "sending"
    assert run(factory, sender, NOW + timedelta(minutes=10)).claimed == 0
    webhook(factory, fake, NOW + timedelta(minutes=12), set())
    report = run(factory, sender, NOW + timedelta(minutes=13))
    assert (report.settled, report.sent) == (1, 0)
    assert request_row(factory, request_id).status == "sent"
    [message] = messages_of(factory, request_id)
    assert message.status == "sent"
    assert len(fake.received) == 1
    assert fake.accepted_total == 1


def test_lost_send_is_sent_again_only_after_the_reconcile_window(factory: Factory, fake: FakeSendGrid) -> None:
    """It sends an unanswered message again only once the reconcile window passed without any event."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = sender_for(fake)
    fake.plan("stall")
    assert run(factory, sender, NOW).ambiguous == 1
    for minutes in (10, 20, 29):
        webhook(factory, fake, NOW + timedelta(minutes=minutes), set())
        assert run(factory, sender, NOW + timedelta(minutes=minutes)).sent == 0
    assert len(fake.received) == 1
    assert run(factory, sender, NOW + timedelta(minutes=31)).sent == 1
    assert request_row(factory, request_id).status == "sent"
    assert fake.accepted_total == 1


def test_every_fault_ends_in_one_acceptance_or_a_failure(factory: Factory, fake: FakeSendGrid) -> None:
    """It gets each message accepted exactly once through 429, 503, 400, cuts, slow answers and stalls."""
    add_customer(factory, "ann")
    faults: list[Behaviour] = ["rate_limit", "unavailable", "bad_request", "cut_before_body", "cut_after_accept",
                               "slow", "stall", "accept"]  # fmt: skip
    plan = {add_request(factory, "ann"): fault for fault in faults for _ in range(3)}
    for request_id, fault in plan.items():
        fake.plan(fault, message_id=identity.message_id(request_id, 0))
    fake.reset_after = 1
    sender = sender_for(fake)
    delivered: set[int] = set()
    now = NOW
    for _ in range(4):
        run(factory, sender, now)
        webhook(factory, fake, now + timedelta(minutes=1), delivered)
        now += OPTIONS.reconcile_after + timedelta(minutes=2)
    assert {received.behaviour for received in fake.received} == set(faults)
    refused = {request_id for request_id, fault in plan.items() if fault == "bad_request"}
    statuses = {request_id: request_row(factory, request_id).status for request_id in plan}
    assert {r for r, status in statuses.items() if status != "sent"} == refused
    assert all(statuses[r] == "failed" for r in refused)
    assert fake.duplicates() == {}
    assert {key[0] for key in fake.accepted} == set(plan) - refused
