"""Recording responses: once per provider event, with suppressions and follow-ups kept in step."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from referral_automation.db.models import Response, Suppression
from referral_automation.domain import identity
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.responses.record import (
    ResponseInput,
    ResponseReport,
    record_in_session,
    record_responses,
)
from tests.support.send import (
    NOW,
    Factory,
    add_customer,
    add_request,
    request_row,
)


def responses(factory: Factory) -> list[Response]:
    with factory() as session:
        return list(session.execute(select(Response).order_by(Response.id)).scalars())


def suppressions(factory: Factory) -> dict[str, str]:
    with factory() as session:
        return {row.email: row.reason for row in session.execute(select(Suppression)).scalars()}


def event(kind: ResponseKind, **fields: object) -> ResponseInput:
    return ResponseInput(kind=kind, occurred_at=fields.pop("at", NOW), source="test", **fields)  # type: ignore[arg-type]


def test_duplicate_external_ids_are_recorded_once(factory: Factory) -> None:
    """It records an event delivered twice, in one batch or in two, only once."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    first = record_responses(
        factory,
        [event(ResponseKind.OPENED, referral_request_id=request_id, external_id="sg-1")] * 2,
        now=NOW,
    )
    second = record_responses(factory, [event(ResponseKind.OPENED, external_id="sg-1")], now=NOW)
    assert (first.recorded, first.duplicates, second.recorded, second.duplicates) == (1, 1, 0, 1)
    assert len(responses(factory)) == 1


def test_responses_without_external_id_are_all_kept(factory: Factory) -> None:
    """It keeps every response that has no external id (clicks on our own links, say)."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    record_responses(factory, [event(ResponseKind.REFERRAL_CLICKED, referral_request_id=request_id)] * 3, now=NOW)
    assert len(responses(factory)) == 3


def test_message_id_finds_its_request(factory: Factory) -> None:
    """It fills in the request of a response that names only its message."""
    from referral_automation.db.models import Message

    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    message_id = identity.message_id(request_id, 0)
    with factory() as session, session.begin():
        session.add(
            Message(
                id=message_id, referral_request_id=request_id, sequence_step=0, status="sent", provider="outbox",
                subject="s", content_hash="h", created_at=NOW,
            )
        )  # fmt: skip
    record_responses(factory, [event(ResponseKind.CLICKED, message_id=message_id)], now=NOW)
    [row] = responses(factory)
    assert (row.referral_request_id, row.message_id) == (request_id, message_id)


def test_request_and_step_name_the_message(factory: Factory) -> None:
    """It derives the message id from the request and the sequence step a provider event carries."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    record_responses(
        factory,
        [event(ResponseKind.DELIVERED, referral_request_id=request_id, details={"sequence_step": "1"})],
        now=NOW,
    )
    assert responses(factory)[0].message_id == identity.message_id(request_id, 1)


def test_unknown_request_is_kept_in_details(factory: Factory) -> None:
    """It keeps a response naming a request it does not know, with the id moved into its details."""
    report = record_responses(factory, [event(ResponseKind.OPENED, referral_request_id="nope")], now=NOW)
    [row] = responses(factory)
    assert report.unknown_requests == 1
    assert row.referral_request_id is None
    assert row.details["unknown_referral_request_id"] == "nope"


@pytest.mark.parametrize(
    "kind",
    [ResponseKind.UNSUBSCRIBED, ResponseKind.BOUNCED, ResponseKind.SPAM_REPORTED, ResponseKind.GROUP_UNSUBSCRIBED],
)
def test_suppressing_kinds_suppress_the_customers_address(factory: Factory, kind: ResponseKind) -> None:
    """It suppresses the address of the request's customer, casefolded, for every suppressing kind."""
    add_customer(factory, "ann", email="Ann@Example.COM")
    request_id = add_request(factory, "ann", status="sent")
    report = record_responses(factory, [event(kind, referral_request_id=request_id)], now=NOW)
    assert report.suppressions_added == 1
    assert suppressions(factory) == {"ann@example.com": kind.value}


def test_bounce_of_an_address_without_request(factory: Factory) -> None:
    """It suppresses an address given directly, even when no request is known."""
    record_responses(factory, [event(ResponseKind.BOUNCED, email=" Zed@Example.com ")], now=NOW)
    assert suppressions(factory) == {"zed@example.com": "bounced"}


def test_resubscribe_lifts_an_unsubscribe_but_not_a_bounce(factory: Factory) -> None:
    """It lifts an unsubscribe on a group re-subscribe and keeps a bounce."""
    record_responses(
        factory,
        [event(ResponseKind.GROUP_UNSUBSCRIBED, email="a@x.com"), event(ResponseKind.BOUNCED, email="b@x.com")],
        now=NOW,
    )
    report = record_responses(
        factory,
        [
            event(ResponseKind.GROUP_RESUBSCRIBED, email="a@x.com", at=NOW + timedelta(hours=1)),
            event(ResponseKind.GROUP_RESUBSCRIBED, email="b@x.com", at=NOW + timedelta(hours=1)),
        ],
        now=NOW,
    )
    assert report.suppressions_lifted == 1
    assert suppressions(factory) == {"b@x.com": "bounced"}


def test_suppressions_follow_the_order_of_events(factory: Factory) -> None:
    """It applies an unsubscribe and a later re-subscribe in the order they happened, whatever the input order."""
    record_responses(
        factory,
        [
            event(ResponseKind.GROUP_RESUBSCRIBED, email="a@x.com", at=NOW + timedelta(minutes=5)),
            event(ResponseKind.GROUP_UNSUBSCRIBED, email="a@x.com", at=NOW),
        ],
        now=NOW,
    )
    assert suppressions(factory) == {}


def test_engaging_and_suppressing_kinds_stop_follow_ups(factory: Factory) -> None:
    """It clears the next follow-up on a reply or an unsubscribe, and not on an open."""
    add_customer(factory, "ann")
    planned = NOW + timedelta(days=3)
    replied = add_request(factory, "ann", status="sent", next_followup_at=planned)
    opened = add_request(factory, "ann", status="sent", next_followup_at=planned)
    unsubscribed = add_request(factory, "ann", status="sent", next_followup_at=planned)
    report = record_responses(
        factory,
        [
            event(ResponseKind.REPLIED_OK, referral_request_id=replied),
            event(ResponseKind.OPENED, referral_request_id=opened),
            event(ResponseKind.UNSUBSCRIBED, referral_request_id=unsubscribed),
        ],
        now=NOW,
    )
    assert report.follow_ups_stopped == 2
    assert request_row(factory, replied).next_followup_at is None
    assert request_row(factory, opened).next_followup_at == planned
    assert request_row(factory, unsubscribed).next_followup_at is None


def test_large_input_is_recorded_in_batches(factory: Factory) -> None:
    """It records any number of responses, batch by batch."""
    items = (event(ResponseKind.OPENED, external_id=f"e{n}") for n in range(25))
    report = record_responses(factory, items, now=NOW, batch_size=10)
    assert (report.received, report.recorded) == (25, 25)
    assert len(responses(factory)) == 25


def test_a_concurrent_duplicate_is_counted_once(factory: Factory) -> None:
    """It counts as recorded only what it inserted when another transaction records the same events
    at the same moment (SendGrid's retry racing its original), and acts on them once."""
    add_customer(factory, "ann")
    request_id = add_request(factory, "ann", status="sent")
    batch = [event(ResponseKind.OPENED, referral_request_id=request_id, external_id=f"race-{n}") for n in range(3)]
    holding, release = threading.Event(), threading.Event()
    reports: list[ResponseReport] = []

    def first() -> None:
        with factory() as session, session.begin():
            reports.append(record_in_session(session, batch, now=NOW))
            holding.set()
            release.wait(10)

    def second() -> None:
        reports.append(record_responses(factory, batch, now=NOW))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    holding.wait(10)
    threads[1].start()
    time.sleep(0.5)  # the second waits: for the unique index (PostgreSQL) or BEGIN IMMEDIATE (SQLite)
    release.set()
    for thread in threads:
        thread.join(10)
    assert [(r.recorded, r.duplicates) for r in reports] == [(3, 0), (0, 3)]
    assert len(responses(factory)) == 3
