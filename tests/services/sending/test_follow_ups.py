"""Follow-ups: +3 and +7 days after the first send, inside the window, only while nobody responded."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from referral_automation.config import AppConfig, FollowUps
from referral_automation.db.models import Customer, Response, Suppression
from referral_automation.domain.delivery import DeliveryOptions
from referral_automation.domain.responses import ResponseKind
from referral_automation.email.message import EmailSender
from referral_automation.email.senders.outbox import OutboxSender
from referral_automation.errors import PermanentDeliveryError, RetryableDeliveryError
from referral_automation.services.responses.record import ResponseInput, record_responses
from referral_automation.services.sending import follow_ups as followups_service
from referral_automation.services.sending import step as sending_step
from referral_automation.services.sending.batches import DeliveryReport
from referral_automation.services.sending.follow_ups import send_follow_ups
from tests.support.send import (
    BERLIN,
    FIRST_FOLLOW_UP,
    NOW,
    OPTIONS,
    SECOND_FOLLOW_UP,
    Factory,
    FakeSender,
    add_customer,
    add_request,
    at_local,
    fake_composer,
    messages_of,
    request_row,
    sent_request,
    shipped_config,
    transactions_begun,
)


def with_follow_ups(config: AppConfig, days: list[int]) -> AppConfig:
    campaign = config.campaign("customer_referral").model_copy(update={"follow_ups": FollowUps(after_days=days)})
    campaigns = config.campaigns.model_copy(update={"campaigns": {"customer_referral": campaign}})
    return config.model_copy(update={"campaigns": campaigns})


def follow_up(factory: Factory, sender: EmailSender, now: datetime, config: AppConfig | None = None) -> DeliveryReport:
    chosen = DeliveryOptions(batch_size=50, worker="test")
    return send_follow_ups(
        factory,
        config=config or shipped_config(),
        sender=sender,
        composer=fake_composer,
        now=now,
        options=chosen,
    )


def respond(factory: Factory, request_id: str, kind: ResponseKind, at: datetime) -> None:
    record_responses(factory, [ResponseInput(kind, at, "test", referral_request_id=request_id)], now=at)


def test_two_follow_ups_at_three_and_seven_days(factory: Factory) -> None:
    """It sends step 1 at the first window opening after +3 days and step 2 after +7 days, then stops."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    assert request_row(factory, request_id).next_followup_at == FIRST_FOLLOW_UP
    assert follow_up(factory, sender, FIRST_FOLLOW_UP - timedelta(seconds=1)).claimed == 0
    assert follow_up(factory, sender, FIRST_FOLLOW_UP).sent == 1
    request = request_row(factory, request_id)
    assert (request.followups_sent, request.next_followup_at, request.status) == (1, SECOND_FOLLOW_UP, "sent")
    assert follow_up(factory, sender, SECOND_FOLLOW_UP).sent == 1
    request = request_row(factory, request_id)
    assert (request.followups_sent, request.next_followup_at) == (2, None)
    follow_up(factory, sender, SECOND_FOLLOW_UP + timedelta(days=30))
    assert sender.steps_for(request_id) == [0, 1, 2]
    assert [(m.sequence_step, m.status) for m in messages_of(factory, request_id)] == [
        (0, "sent"),
        (1, "sent"),
        (2, "sent"),
    ]


def test_rerun_sends_each_follow_up_once(factory: Factory) -> None:
    """It sends a follow-up once however often the run repeats."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    for _ in range(3):
        follow_up(factory, sender, FIRST_FOLLOW_UP + timedelta(minutes=5))
    assert sender.steps_for(request_id) == [0, 1]


@pytest.mark.parametrize("kind", [ResponseKind.REPLIED_OK, ResponseKind.REFERRAL_CLICKED, ResponseKind.REFERRAL])
def test_a_response_stops_follow_ups(factory: Factory, kind: ResponseKind) -> None:
    """It sends no follow-up once the customer replied OK, clicked their referral link or referred someone."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    respond(factory, request_id, kind, NOW + timedelta(days=1))
    assert request_row(factory, request_id).next_followup_at is None
    follow_up(factory, sender, SECOND_FOLLOW_UP)
    assert sender.steps_for(request_id) == [0]


def test_an_open_does_not_stop_follow_ups(factory: Factory) -> None:
    """It still follows up after the customer only opened the email."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    respond(factory, request_id, ResponseKind.OPENED, NOW + timedelta(hours=2))
    follow_up(factory, sender, FIRST_FOLLOW_UP)
    assert sender.steps_for(request_id) == [0, 1]


def test_unsubscribe_stops_follow_ups(factory: Factory) -> None:
    """It sends no follow-up to an address that unsubscribed after the first ask."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    respond(factory, request_id, ResponseKind.UNSUBSCRIBED, NOW + timedelta(days=1))
    follow_up(factory, sender, FIRST_FOLLOW_UP)
    assert sender.steps_for(request_id) == [0]


def test_response_recorded_elsewhere_is_checked_at_claim(factory: Factory) -> None:
    """It checks for a response when claiming, even if nothing cleared the follow-up date."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    with factory() as session, session.begin():
        session.execute(
            insert(Response),
            {
                "referral_request_id": request_id,
                "kind": "replied_ok",
                "occurred_at": NOW,
                "source": "import",
                "details": {},
            },
        )
    report = follow_up(factory, sender, FIRST_FOLLOW_UP)
    assert (report.stopped, sender.steps_for(request_id)) == (1, [0])
    assert request_row(factory, request_id).next_followup_at is None
    assert [m.sequence_step for m in messages_of(factory, request_id)] == [0]


def test_suppression_and_opt_out_are_checked_at_claim(factory: Factory) -> None:
    """It sends no follow-up to a suppressed address or a customer who opted out since."""
    sender = FakeSender()
    suppressed = sent_request(factory, sender, "ann")
    opted_out = sent_request(factory, sender, "bob")
    with factory() as session, session.begin():
        session.add(Suppression(email="ann@example.com", reason="bounced", source="test", created_at=NOW))
        session.execute(update(Customer).where(Customer.customer_id == "bob").values(marketing_opt_in=False))
    assert follow_up(factory, sender, FIRST_FOLLOW_UP).stopped == 2
    assert sender.steps_for(suppressed) == sender.steps_for(opted_out) == [0]
    assert request_row(factory, suppressed).next_followup_at is None


def test_follow_up_days_are_configurable(factory: Factory) -> None:
    """It follows the campaign's after_days: one follow-up two days after the first send."""
    config = with_follow_ups(shipped_config(), [2])
    sender = FakeSender()
    request_id = sent_request(factory, sender, config=config)
    friday_11 = at_local(BERLIN, 2026, 3, 6, 11)
    assert request_row(factory, request_id).next_followup_at == friday_11
    follow_up(factory, sender, friday_11, config=config)
    request = request_row(factory, request_id)
    assert (request.followups_sent, request.next_followup_at) == (1, None)


def test_due_follow_up_outside_the_window_waits(factory: Factory) -> None:
    """It moves a follow-up found due in the evening to the next morning's opening."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    monday_evening = at_local(BERLIN, 2026, 3, 9, 18)
    report = follow_up(factory, sender, monday_evening)
    assert (report.rescheduled, report.sent) == (1, 0)
    assert request_row(factory, request_id).next_followup_at == at_local(BERLIN, 2026, 3, 10, 9)


def test_late_follow_up_keeps_its_spacing(factory: Factory) -> None:
    """It plans the next follow-up from now when the planned time already passed, never back to back."""
    sender = FakeSender()
    request_id = sent_request(factory, sender)
    late = at_local(BERLIN, 2026, 3, 12, 10)  # after the +7 days mark
    follow_up(factory, sender, late)
    assert request_row(factory, request_id).next_followup_at == at_local(BERLIN, 2026, 3, 16, 10)
    assert sender.steps_for(request_id) == [0, 1]


def test_retryable_error_tries_the_same_step_later(factory: Factory) -> None:
    """It retries a follow-up that was not accepted, then counts it once it goes."""
    outcomes = iter([RetryableDeliveryError("503")])
    sender = FakeSender(script=lambda email: next(outcomes, None) if email.sequence_step == 1 else None)
    request_id = sent_request(factory, sender)
    follow_up(factory, sender, FIRST_FOLLOW_UP)
    request = request_row(factory, request_id)
    assert (request.followups_sent, request.attempts) == (0, 1)
    assert request.next_followup_at == FIRST_FOLLOW_UP + timedelta(minutes=5)
    follow_up(factory, sender, FIRST_FOLLOW_UP + timedelta(minutes=5))
    request = request_row(factory, request_id)
    assert (request.followups_sent, request.attempts, request.next_followup_at) == (1, 0, SECOND_FOLLOW_UP)


def test_permanent_error_ends_follow_ups(factory: Factory) -> None:
    """It stops following up after a permanent refusal and keeps the request sent."""
    sender = FakeSender(
        script=lambda email: PermanentDeliveryError("550 mailbox gone") if email.sequence_step else None
    )
    request_id = sent_request(factory, sender)
    follow_up(factory, sender, FIRST_FOLLOW_UP)
    request = request_row(factory, request_id)
    assert (request.status, request.next_followup_at, request.followups_sent) == ("sent", None, 0)
    assert "mailbox gone" in (request.last_error or "")
    assert messages_of(factory, request_id)[1].status == "failed"


def test_crash_during_a_follow_up_writes_one_file(
    factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It writes no second .eml for a follow-up whose run died after the outbox wrote it."""
    outbox = OutboxSender(tmp_path / "outbox", clock=lambda: NOW)
    request_id = sent_request(factory, outbox)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed before recording")

    with monkeypatch.context() as patch:  # the worker dies: neither the record nor its fallback runs
        patch.setattr(sending_step, "record", crash)
        patch.setattr(sending_step, "settle_accepted", crash)
        with pytest.raises(RuntimeError):
            follow_up(factory, outbox, FIRST_FOLLOW_UP)
    assert follow_up(factory, outbox, FIRST_FOLLOW_UP + timedelta(minutes=1)).claimed == 0
    assert follow_up(factory, outbox, FIRST_FOLLOW_UP + OPTIONS.lease).sent == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    assert request_row(factory, request_id).followups_sent == 1


def test_follow_ups_skip_requests_never_sent(factory: Factory) -> None:
    """It never follows up a request whose first ask did not go out."""
    add_customer(factory, "ann", timezone=BERLIN)
    request_id = add_request(factory, "ann", status="failed", next_followup_at=NOW)
    sender = FakeSender()
    assert follow_up(factory, sender, NOW + timedelta(days=10)).claimed == 0
    assert request_row(factory, request_id).status == "failed"


def test_a_follow_up_batch_takes_three_transactions(factory: Factory) -> None:
    """It claims follow-ups and reads their messages' earlier rows in one transaction, then writes
    the sending rows and records the outcomes in one each, as the first ask does."""
    sent_request(factory, FakeSender())

    with transactions_begun(factory) as begun:
        report = followups_service.follow_up_batch(
            factory,
            config=shipped_config(),
            sender=FakeSender(),
            composer=fake_composer,
            now=FIRST_FOLLOW_UP,
            options=OPTIONS,
        )
    assert report.sent == 1
    assert len(begun) == 3
