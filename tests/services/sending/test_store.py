"""The send path's driver-level SQL: rows stored, and rows read, exactly as the ORM would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text, update

from referral_automation.db.bulk import BulkUpdate, bulk_update, insert_rows
from referral_automation.db.models import Customer, JourneyEvent, Message, Moment, ReferralRequest
from referral_automation.services.sending import store
from referral_automation.services.sending.claims import Claim, read_context
from tests.support.send import NOW, Factory, add_customer, add_request, transactions_begun

#: Datetimes the ORM converts: another zone, microseconds, a leap day.
TIMES = [
    NOW,
    datetime(2026, 3, 4, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-11, minutes=-30))),
]


def raw(factory: Factory, table: str, key: str) -> dict[str, tuple[Any, ...]]:
    with factory() as session:
        return {row[0]: tuple(row) for row in session.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))}


def message(message_id: str, request_id: str, created_at: datetime, subject: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "referral_request_id": request_id,
        "sequence_step": 0,
        "status": "sending",
        "provider": "outbox",
        "subject": subject,
        "content_hash": "ab" * 32,
        "created_at": created_at,
        "error": None,
    }


@pytest.mark.parametrize("created_at", TIMES)
def test_message_rows_are_stored_as_the_orm_stores_them(factory: Factory, created_at: datetime) -> None:
    """It inserts message rows through the driver in the very representation the ORM writes."""
    requests = [add_request(factory, add_customer(factory, f"store-{n}")) for n in range(2)]
    with factory() as session, session.begin():
        insert_rows(session, store.messages_table, [message("m-driver", requests[0], created_at, "Grüße, 李")])
        session.add(Message(**message("m-orm", requests[1], created_at, "Grüße, 李")))
    rows = raw(factory, "messages", "id")
    assert rows["m-driver"][2:] == rows["m-orm"][2:]
    with factory() as session:
        stored = {m.id: m for m in session.scalars(select(Message))}
    assert stored["m-driver"].created_at == created_at
    assert stored["m-driver"].created_at.tzinfo is UTC


def test_message_rows_already_there_are_kept(factory: Factory) -> None:
    """It keeps a message row that exists (same id), as ON CONFLICT DO NOTHING promises."""
    request = add_request(factory, add_customer(factory, "store-kept"))
    with factory() as session, session.begin():
        insert_rows(session, store.messages_table, [message("m-1", request, NOW, "first")])
    with factory() as session, session.begin():
        insert_rows(session, store.messages_table, [message("m-1", request, NOW + timedelta(hours=1), "second")])
    with factory() as session:
        kept = session.scalars(select(Message)).one()
    assert (kept.subject, kept.created_at) == ("first", NOW)


@pytest.mark.parametrize("at", TIMES)
def test_bulk_updates_store_what_an_orm_update_stores(factory: Factory, at: datetime) -> None:
    """It updates rows one by one and several at once, each as SQLAlchemy's UPDATE would store them."""
    ids = [add_request(factory, add_customer(factory, f"upd-{n}")) for n in range(5)]
    changes = {"status": "sent", "sent_at": at, "next_followup_at": None, "attempts": 2, "last_error": "Grüße"}
    leased = {**changes, "lease_expires_at": at}
    with factory() as session, session.begin():
        # ids 0 and 1 share their values (one UPDATE … IN), id 2 has its own (executemany).
        bulk_update(session, store.requests_table, [{"id": i, **changes} for i in ids[:2]])
        bulk_update(session, store.requests_table, [{"id": ids[2], **leased}])
        session.execute(update(ReferralRequest).where(ReferralRequest.id == ids[3]).values(**changes))
        session.execute(update(ReferralRequest).where(ReferralRequest.id == ids[4]).values(**leased))
    rows = raw(factory, "referral_requests", "id")
    columns = list(ReferralRequest.__table__.columns.keys())
    personal = {"id", "customer_id", "moment_id", "code", "unsubscribe_token"}
    compared = [n for n, name in enumerate(columns) if name not in personal]

    def values(request_id: str) -> list[Any]:
        return [rows[request_id][n] for n in compared]

    assert values(ids[0]) == values(ids[1]) == values(ids[3])
    assert values(ids[2]) == values(ids[4])


def test_bulk_update_touches_the_database_only_when_run(factory: Factory) -> None:
    """It groups and converts the rows when prepared, before any statement (on SQLite the first one
    takes the write lock other workers wait for), and updates them when run, wherever "id" is listed."""
    ids = [add_request(factory, add_customer(factory, f"prep-{n}")) for n in range(3)]
    rows = [{"status": "sent", "sent_at": TIMES[1], "id": ids[0]}] + [{"id": i, "status": "failed"} for i in ids[1:]]
    with transactions_begun(factory) as begun, factory() as session, session.begin():
        prepared = BulkUpdate(session, store.requests_table, rows)
        assert begun == []
        prepared.run()
        assert len(begun) == 1
    with factory() as session:
        stored = {r.id: r for r in session.scalars(select(ReferralRequest).where(ReferralRequest.id.in_(ids)))}
    assert [stored[i].status for i in ids] == ["sent", "failed", "failed"]
    assert stored[ids[0]].sent_at == TIMES[1]


def test_claimed_context_reads_what_the_orm_reads(factory: Factory) -> None:
    """It reads a claim's request, customer, moment and event through the driver as the ORM decodes them."""
    ids = [add_request(factory, add_customer(factory, f"ctx-{n}", opt_in=n % 2 == 0)) for n in range(3)]
    with factory() as session, session.begin():
        session.execute(update(ReferralRequest).where(ReferralRequest.id == ids[1]).values(sent_at=TIMES[1]))
        session.execute(update(Customer).where(Customer.customer_id == "ctx-2").values(first_purchase_at=None))
        moment = session.scalars(select(ReferralRequest.moment_id).where(ReferralRequest.id == ids[2])).one()
        session.execute(update(Moment).where(Moment.id == moment).values(event_seq=None))
    with factory() as session, session.begin():
        claim = Claim()
        read = {row["id"]: claim.decode(row) for row in read_context(session, ids, claim)}
        for request_id in ids:
            request = session.get(ReferralRequest, request_id)
            assert request is not None
            customer = session.get(Customer, request.customer_id)
            moment_row = session.get(Moment, request.moment_id)
            assert customer is not None
            assert moment_row is not None
            event = session.scalars(select(JourneyEvent).where(JourneyEvent.seq == moment_row.event_seq)).first()
            row = read[request_id]
            for name in ("campaign", "variant", "incentive", "code", "status", "sent_at", "attempts"):
                assert row[name] == getattr(request, name)
                assert type(row[name]) is type(getattr(request, name))
            for name in ("email", "first_name", "lifetime_value", "first_purchase_at", "marketing_opt_in", "locale"):
                assert row[name] == getattr(customer, name)
                assert type(row[name]) is type(getattr(customer, name))
            assert row["moment_occurred_at"] == moment_row.occurred_at
            assert row["moment_occurred_at"].tzinfo is UTC
            assert row["moment_properties"] == (event.properties if event else None)


def test_message_rows_read_what_the_orm_reads(factory: Factory) -> None:
    """It reads existing message rows (status, provider, times, error) as the ORM decodes them."""
    requests = [add_request(factory, add_customer(factory, f"read-{n}")) for n in range(2)]
    with factory() as session, session.begin():
        session.add(Message(**message("m-sending", requests[0], TIMES[1], "Hi")))
        session.add(Message(**{**message("m-sent", requests[1], TIMES[2], "Hi"), "status": "sent"}, sent_at=TIMES[1]))
    with factory() as session, session.begin():
        rows = store.message_rows(session, ["m-sending", "m-sent", "m-missing"])
        orm = {m.id: m for m in session.scalars(select(Message))}
    assert set(rows) == {"m-sending", "m-sent"}
    for message_id, row in rows.items():
        for column, value in row.items():
            assert value == getattr(orm[message_id], column)
            assert type(value) is type(getattr(orm[message_id], column))
    assert rows["m-sent"]["sent_at"].tzinfo is UTC
