"""The first ask: claiming due requests, sending them once, recording what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from referral_automation.db.models import AuditEntry, Message, Suppression
from referral_automation.db.session import session_factory
from referral_automation.domain import identity
from referral_automation.domain.delivery import DeliveryOptions, Job
from referral_automation.email.message import OutgoingEmail, SendOutcome
from referral_automation.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    Problem,
    RetryableDeliveryError,
    TemplateError,
)
from referral_automation.services.sending.deliver import content_hash
from referral_automation.services.sending.first_asks import send_batch
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
from tests.support.send import send_first_asks as run


def test_due_request_is_sent_and_recorded(factory: Factory) -> None:
    """It sends a due request once, records its message and marks it sent with the first follow-up planned."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    report = run(factory, sender)
    assert report.sent == 1
    assert [email.referral_request_id for email in sender.handed] == [request_id]
    [message] = messages_of(factory, request_id)
    assert message.id == identity.message_id(request_id, 0)
    assert (message.status, message.sequence_step, message.provider) == ("sent", 0, "fake")
    assert message.provider_message_id == f"fake-{message.id}"
    assert message.subject == sender.handed[0].subject
    assert message.content_hash == content_hash(sender.handed[0])
    assert message.sent_at == NOW
    request = request_row(factory, request_id)
    assert (request.status, request.sent_at, request.lease_owner, request.attempts) == ("sent", NOW, None, 0)
    # Wednesday + 3 days is a Saturday: the first follow-up waits for Monday 09:00 in Berlin (08:00 UTC).
    assert request.next_followup_at == (NOW + timedelta(days=5)).replace(hour=8)


def test_approval_states(factory: Factory) -> None:
    """It sends scheduled and approved requests and never pending, rejected or expired ones."""
    add_customer(factory, "ann")
    ids = {status: add_request(factory, "ann", status=status) for status in
           ("scheduled", "approved", "pending_approval", "rejected", "expired")}  # fmt: skip
    sender = FakeSender()
    run(factory, sender)
    assert sorted(email.referral_request_id for email in sender.handed) == sorted([ids["scheduled"], ids["approved"]])
    assert request_row(factory, ids["approved"]).status == "sent"
    for status in ("pending_approval", "rejected", "expired"):
        assert request_row(factory, ids[status]).status == status
        assert messages_of(factory, ids[status]) == []


def test_not_yet_due_waits(factory: Factory) -> None:
    """It leaves a request scheduled for later alone."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", scheduled_for=NOW + timedelta(minutes=1))
    sender = FakeSender()
    assert run(factory, sender).claimed == 0
    assert request_row(factory, request_id).status == "scheduled"


def test_rerun_sends_nothing_new(factory: Factory) -> None:
    """It sends nothing on a second run over the same requests, however late."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    run(factory, sender)
    run(factory, sender)
    run(factory, sender, now=NOW + timedelta(hours=2))
    assert sender.steps_for(request_id) == [0]
    assert len(messages_of(factory, request_id)) == 1


def test_many_batches(factory: Factory) -> None:
    """It works through more due requests than one batch holds, each sent once."""
    for n in range(7):
        add_customer(factory, f"c{n}")
        add_request(factory, f"c{n}")
    sender = FakeSender()
    report = run(factory, sender, options=DeliveryOptions(batch_size=3))
    assert report.sent == 7
    assert report.batches == 4
    assert len({email.message_id for email in sender.handed}) == 7


def test_suppressed_address_is_not_emailed(factory: Factory) -> None:
    """It marks the request of a suppressed address suppressed and writes no message."""
    add_customer(factory, "ann", email="Ann@Example.com")
    request_id = add_request(factory, "ann")
    with factory() as session, session.begin():
        session.add(Suppression(email="ann@example.com", reason="unsubscribed", source="test", created_at=NOW))
    sender = FakeSender()
    report = run(factory, sender)
    assert (report.stopped, sender.handed) == (1, [])
    assert request_row(factory, request_id).status == "suppressed"
    assert messages_of(factory, request_id) == []


def test_opted_out_customer_is_not_emailed(factory: Factory) -> None:
    """It marks the request of a customer who opted out since detection suppressed."""
    add_customer(factory, "ann", opt_in=False)
    request_id = add_request(factory, "ann")
    sender = FakeSender()
    run(factory, sender)
    assert sender.handed == []
    assert request_row(factory, request_id).status == "suppressed"


def test_permanent_error_fails_request_and_message(factory: Factory) -> None:
    """It marks both the message and the request failed, with the provider's reason, and never retries."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender(script=lambda email: PermanentDeliveryError("400: invalid to address"))
    report = run(factory, sender)
    assert report.failed == 1
    request = request_row(factory, request_id)
    assert request.status == "failed"
    assert "invalid to address" in (request.last_error or "")
    [message] = messages_of(factory, request_id)
    assert (message.status, message.error) == ("failed", "400: invalid to address")
    run(factory, sender, now=NOW + timedelta(days=1))
    assert len(sender.handed) == 1


def test_retryable_error_reschedules_with_backoff_then_fails(factory: Factory) -> None:
    """It puts the request back with a growing delay and fails it after the last attempt."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender(script=lambda email: RetryableDeliveryError("503 service unavailable"))
    options = DeliveryOptions(max_attempts=3, backoff=timedelta(minutes=5), worker="w")
    run(factory, sender, options=options)
    request = request_row(factory, request_id)
    assert (request.status, request.attempts, request.scheduled_for) == ("scheduled", 1, NOW + timedelta(minutes=5))
    assert messages_of(factory, request_id)[0].status == "retry"
    run(factory, sender, now=NOW + timedelta(minutes=5), options=options)
    request = request_row(factory, request_id)
    assert (request.attempts, request.scheduled_for) == (2, NOW + timedelta(minutes=15))
    run(factory, sender, now=NOW + timedelta(minutes=15), options=options)
    assert request_row(factory, request_id).status == "failed"
    assert messages_of(factory, request_id)[0].status == "failed"
    assert len(sender.handed) == 3


def test_retry_after_is_respected(factory: Factory) -> None:
    """It waits at least as long as the provider's Retry-After."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    sender = FakeSender(script=lambda email: RetryableDeliveryError("429", retry_after=3600))
    run(factory, sender)
    assert request_row(factory, request_id).scheduled_for == NOW + timedelta(hours=1)


def test_retry_then_success_reuses_the_message_row(factory: Factory) -> None:
    """It sends a retried message under the same message id and records it sent."""
    add_customer(factory, "ann", timezone="UTC")
    request_id = add_request(factory, "ann")
    failures = iter([RetryableDeliveryError("connection refused")])

    def script(email: OutgoingEmail) -> SendOutcome | None:
        return next(failures, None)

    sender = FakeSender(script=script)
    run(factory, sender)
    run(factory, sender, now=NOW + timedelta(hours=1))
    [message] = messages_of(factory, request_id)
    assert (message.status, message.error) == ("sent", None)
    assert request_row(factory, request_id).status == "sent"
    assert {email.message_id for email in sender.handed} == {message.id}


def test_ambiguous_send_stays_sending(factory: Factory) -> None:
    """It leaves an ambiguous send and its request `sending`, to be reconciled, not retried."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    sender = FakeSender(script=lambda email: AmbiguousDeliveryError("read timeout"))
    report = run(factory, sender)
    assert report.ambiguous == 1
    request = request_row(factory, request_id)
    assert request.status == "sending"
    assert request.lease_expires_at == NOW + OPTIONS.reconcile_after
    [message] = messages_of(factory, request_id)
    assert message.status == "sending"
    assert "read timeout" in (message.error or "")


def test_an_email_that_cannot_be_rendered_fails_alone(factory: Factory) -> None:
    """It fails a request whose template does not render, with the reason, an audit line and its
    own counter, writes it no message, and sends the rest of the batch."""
    for name in ("ann", "bob"):
        add_customer(factory, name, timezone="UTC")
    broken_id, fine_id = add_request(factory, "ann"), add_request(factory, "bob")

    def composer(job: Job) -> OutgoingEmail:
        if job.request_id == broken_id:
            raise TemplateError([Problem("gratitude.html", 3, "undefined: 'first_nme'")])
        return fake_composer(job)

    sender = FakeSender()
    report = run(factory, sender, composer=composer)

    assert (report.unrenderable, report.sent, [e.referral_request_id for e in sender.handed]) == (1, 1, [fine_id])
    broken = request_row(factory, broken_id)
    assert (broken.status, broken.lease_expires_at) == ("failed", None)
    assert broken.last_error == "cannot render the email: gratitude.html:3: undefined: 'first_nme'"
    assert messages_of(factory, broken_id) == []
    with factory() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "render_failed")).one()
    assert (audit.subject_id, audit.details["error"]) == (broken_id, broken.last_error)
    assert request_row(factory, fine_id).status == "sent"


def test_unknown_campaign_is_cancelled(factory: Factory) -> None:
    """It cancels a request whose campaign was removed from the config, naming the campaign."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", campaign="retired_program")
    sender = FakeSender()
    assert run(factory, sender).cancelled == 1
    request = request_row(factory, request_id)
    assert request.status == "cancelled"
    assert "retired_program" in (request.last_error or "")


def test_claimed_requests_are_not_claimed_twice(factory: Factory) -> None:
    """It gives a request to one worker at a time: a second claim inside the lease finds nothing."""
    from referral_automation.services.sending.claims import lease_first_asks

    add_customer(factory, "ann")
    add_request(factory, "ann")
    config = shipped_config()
    with factory() as session, session.begin():
        first = lease_first_asks(session, config=config, now=NOW, options=OPTIONS).build_jobs()
    with factory() as session, session.begin():
        second = lease_first_asks(session, config=config, now=NOW + timedelta(minutes=1), options=OPTIONS).build_jobs()
    assert len(first.jobs) == 1
    assert second.jobs == []
    with factory() as session, session.begin():
        after_lease = lease_first_asks(session, config=config, now=NOW + OPTIONS.lease, options=OPTIONS).build_jobs()
    assert [job.request_id for job in after_lease.jobs] == [first.jobs[0].request_id]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_claims_skip_locked_rows(db_url: str) -> None:
    """It lets a second PostgreSQL worker claim other requests while the first one's claim is still open."""
    from referral_automation.services.sending.claims import lease_first_asks

    factory = session_factory(db_url)
    for n in range(4):
        add_customer(factory, f"c{n}")
        add_request(factory, f"c{n}")
    config = shipped_config()
    options = DeliveryOptions(batch_size=2, worker="a")
    with factory() as first_session, first_session.begin():
        first = lease_first_asks(first_session, config=config, now=NOW, options=options).build_jobs()
        with factory() as second_session, second_session.begin():
            second = lease_first_asks(second_session, config=config, now=NOW, options=options).build_jobs()
    assert len(first.jobs) == len(second.jobs) == 2
    assert not {job.request_id for job in first.jobs} & {job.request_id for job in second.jobs}


def test_message_rows_are_unique_per_step(factory: Factory) -> None:
    """It keeps one message row per request and step whatever happens."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann")
    run(factory, FakeSender())
    with factory() as session:
        count = len(session.execute(select(Message.id).where(Message.referral_request_id == request_id)).all())
    assert count == 1


def test_a_batch_takes_three_transactions(factory: Factory) -> None:
    """It claims a batch and reads what earlier runs left for its messages in one transaction, then
    writes the sending rows and records the outcomes in one each (on SQLite, each is a turn of
    the write lock every other send worker waits for)."""
    for name in ("ann", "bob"):
        add_customer(factory, name)
        add_request(factory, name)
    with transactions_begun(factory) as begun:
        report = send_batch(
            factory, config=shipped_config(), sender=FakeSender(), composer=fake_composer, now=NOW, options=OPTIONS
        )
    assert report.sent == 2
    assert len(begun) == 3
