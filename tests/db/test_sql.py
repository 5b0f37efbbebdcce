"""Detection's driver-level reads and writes: the same stored text and the same values as SQLAlchemy's types."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import BanditAllocation, Customer, JourneyEvent, Moment, ReferralRequest
from referral_automation.db.shared import customer_facts
from referral_automation.db.sql import from_json, from_sqlite_timestamp, sqlite_timestamp
from referral_automation.db.types import UTCDateTime
from referral_automation.domain.facts import CustomerFacts, EventFacts
from referral_automation.services.detection import store as repo
from tests.support.detect_factories import (
    NOW,
    add_customer,
    add_event,
    suppress,
)

TIMES = [
    NOW,
    datetime(2026, 3, 1, 9, 30, 0, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-11, minutes=-30))),
    datetime(2024, 2, 29, 0, 0, tzinfo=timezone(timedelta(hours=14))),
    datetime(999, 1, 2, 3, 4, 5, 500000, tzinfo=timezone(timedelta(hours=1))),
]
SQLITE = sqlite.dialect()


def raw(factory: sessionmaker[Session], sql: str) -> list[tuple[Any, ...]]:
    with factory() as session:
        return [tuple(row) for row in session.execute(text(sql))]


# --------------------------------------------------------------------------- timestamps
@given(st.datetimes(timezones=st.timezones()))
def test_sqlite_timestamps_are_utc_datetime_text(value: datetime) -> None:
    """It writes SQLite the text UTCDateTime writes, and reads that text back as UTCDateTime does."""
    utc = UTCDateTime()
    naive = utc.process_bind_param(value, SQLITE)
    stored = utc.impl.dialect_impl(SQLITE).bind_processor(SQLITE)(naive)
    read = utc.impl.dialect_impl(SQLITE).result_processor(SQLITE, None)(stored)

    assert sqlite_timestamp(value) == stored
    assert from_sqlite_timestamp(stored) == utc.process_result_value(read, SQLITE)
    assert from_sqlite_timestamp(stored).tzinfo is UTC


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**60, max_value=2**70),
        st.floats(),
        st.text(alphabet=st.characters(codec="utf-8")),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8,
)


@given(json_values)
def test_json_text_is_read_as_json_loads_reads_it(value: Any) -> None:
    """It decodes stored JSON text to what json.loads gives (huge integers, NaN and infinities included)."""
    stored = json.dumps(value)

    assert repr(from_json(stored)) == repr(json.loads(stored))


def test_a_naive_timestamp_is_refused() -> None:
    """It refuses a naive datetime, as UTCDateTime does."""
    with pytest.raises(ValueError, match="aware"):
        sqlite_timestamp(datetime(2026, 1, 1))


# --------------------------------------------------------------------------- writes
def moment_row(moment_id: str, at: datetime, **changes: Any) -> dict[str, Any]:
    return {
        "id": moment_id,
        "customer_id": "ada",
        "rule_id": "nps_promoter",
        "source_key": moment_id,
        "event_seq": 7,
        "occurred_at": at,
        "detected_at": NOW,
        "priority": 30,
        "campaign": "customer_referral",
        "outcome": "blocked",
        "blocked_by": "staleness",
        "reason": "the moment is 9 days old (at most 7 allowed) — Grüße",
        **changes,
    }


@pytest.mark.parametrize("at", TIMES)
def test_moments_are_stored_as_sqlalchemy_stores_them(factory: sessionmaker[Session], at: datetime) -> None:
    """It stores a moment's columns in the very representation a SQLAlchemy insert gives them."""
    with factory() as session, session.begin():
        inserted = repo.count_new_moments(session, [moment_row("driver", at), moment_row("driver", at)])
        session.execute(Moment.__table__.insert(), moment_row("sqlalchemy", at))
    with factory() as session, session.begin():
        again = repo.count_new_moments(session, [moment_row("driver", at, outcome="candidate")])

    driver, typed = (raw(factory, f"SELECT * FROM moments WHERE id = '{key}'")[0] for key in ("driver", "sqlalchemy"))
    assert (inserted, again) == (1, 0)
    assert driver[1:3] + driver[4:] == typed[1:3] + typed[4:]


def test_only_candidates_are_decided(factory: sessionmaker[Session]) -> None:
    """It records an outcome on a candidate moment and leaves a decided one alone."""
    with factory() as session, session.begin():
        repo.count_new_moments(
            session, [moment_row("open", NOW, outcome="candidate"), moment_row("done", NOW, outcome="requested")]
        )
    with factory() as session, session.begin():
        repo.decide_moments(session, [("open", "blocked", "tenure", "too new"), ("done", "blocked", "tenure", "x")])

    assert raw(factory, "SELECT id, outcome, blocked_by, reason FROM moments ORDER BY id") == [
        ("done", "requested", "staleness", moment_row("done", NOW)["reason"]),
        ("open", "blocked", "tenure", "too new"),
    ]


def request_row(request_id: str, moment_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": request_id,
        "customer_id": "ada",
        "moment_id": moment_id,
        "campaign": "customer_referral",
        "variant": "gratitude",
        "incentive": "donation",
        "code": f"code-{request_id}",
        "unsubscribe_token": f"token-{request_id}",
        "status": "pending_approval",
        "approval_required": True,
        "approval_reason": "lifetime value 90,000 is at least 50,000",
        "approval_expires_at": TIMES[2],
        "scheduled_for": TIMES[3],
        "created_at": NOW,
        "updated_at": NOW,
        "model_version": "bandit-0123456789abcdef",
        "arm_propensity": 0.1234567890123,
        "from_holdout": True,
        **changes,
    }


def test_requests_are_stored_as_the_orm_stores_them(factory: sessionmaker[Session]) -> None:
    """It stores a request (defaults and the logged choice included) as the ORM does, and reports only the
    rows it inserted."""
    with factory() as session, session.begin():
        repo.count_new_moments(session, [moment_row(key, NOW) for key in ("m1", "m2", "m3")])
        session.add(
            BanditAllocation(
                version="bandit-0123456789abcdef", created_at=NOW, policy="thompson", objective="profit", holdout=0.05,
                arms=[["gratitude", "donation", 0.1234567890123, 0.5]],
            )
        )  # fmt: skip
    with factory() as session, session.begin():
        inserted = repo.insert_requests(session, [request_row("driver", "m1"), request_row("plain", "m3")])
        session.add(ReferralRequest(**request_row("orm", "m2")))
    with factory() as session, session.begin():
        again = repo.insert_requests(session, [request_row("driver", "m1", code="other", unsubscribe_token="other")])

    columns = "customer_id, campaign, variant, incentive, status, approval_required, approval_reason, "
    columns += "model_version, arm_propensity, from_holdout, " + ", ".join(
        c.name for c in ReferralRequest.__table__.columns if c.name not in request_row("x", "y")
    )
    rows = {
        key: raw(factory, f"SELECT {columns} FROM referral_requests WHERE id = '{key}'") for key in ("driver", "orm")
    }
    times = raw(factory, "SELECT approval_expires_at, scheduled_for, created_at FROM referral_requests ORDER BY id")
    assert sorted(inserted) == [("driver", "pending_approval"), ("plain", "pending_approval")]
    assert again == []
    assert rows["driver"] == rows["orm"]
    assert len(set(times)) == 1


# --------------------------------------------------------------------------- reads
PROPERTIES = [
    {"score": 9},
    {"amount": 12.5, "note": "Grüße", "nested": {"list": [1, None, True]}},
    {"huge": 2**70, "small": -0.0},
    {},
]


def typed_events(factory: sessionmaker[Session]) -> dict[str, JourneyEvent]:
    with factory() as session:
        return {e.event_id: e for e in session.scalars(select(JourneyEvent))}


def test_events_read_through_the_driver_are_the_orm_values(factory: sessionmaker[Session]) -> None:
    """It reads event times (aware UTC) and properties (JSON) exactly as the ORM reads them."""
    for index, (at, properties) in enumerate(zip(TIMES, PROPERTIES * 2, strict=False)):
        add_event(factory, "ada", "nps_submitted", at=at, event_id=f"e{index}", **properties)
    add_event(factory, "ada", "page_viewed", at=NOW, event_id="other")
    orm = typed_events(factory)

    with factory() as session:
        scanned = [
            EventFacts(event_id, customer_id, kind, at, properties, seq)
            for seq, event_id, customer_id, kind, at, properties in repo.event_rows(
                session, after=0, upto=100, types=["nps_submitted"]
            )
        ]
        recent = repo.events_between(
            session, ["ada"], start=TIMES[-1], end=NOW + timedelta(days=1), types={"nps_submitted", "page_viewed"}
        )

    expected = [
        EventFacts(e.event_id, e.customer_id, e.type, e.occurred_at, e.properties, e.seq)
        for e in sorted(orm.values(), key=lambda e: e.seq)
    ]
    assert scanned == [e for e in expected if e.type == "nps_submitted"]
    assert [repr(e.properties) for e in scanned] == [repr(orm[e.event_id].properties) for e in scanned]
    assert all(e.occurred_at.tzinfo is UTC for e in scanned)
    by_time = sorted(expected, key=lambda e: (e.occurred_at, e.seq or 0))
    assert recent["ada"] == [
        EventFacts(e.event_id, e.customer_id, e.type, e.occurred_at, e.properties) for e in by_time
    ]


def test_customers_read_through_the_driver_are_the_orm_values(factory: sessionmaker[Session]) -> None:
    """It reads money as the column's Decimal, the opt-in as a bool, times as aware UTC, suppression by any case."""
    add_customer(factory, "bob", lifetime_value=90000, opt_in=False, tenure_days=None, email="Bob@Example.com")
    add_customer(factory, "cyd", lifetime_value=0)
    suppress(factory, "bob@example.com")
    with factory() as session:
        orm = {c.customer_id: c for c in session.scalars(select(Customer))}
        found = customer_facts(session, {"ada", "bob", "cyd", "nobody"})

    fields = [f for f in CustomerFacts.__dataclass_fields__ if f != "suppressed"]
    expected = {
        key: CustomerFacts(**{f: getattr(c, f) for f in fields}, suppressed=key == "bob") for key, c in orm.items()
    }
    assert found == expected
    assert [repr(found[key].lifetime_value) for key in sorted(found)] == [
        repr(orm[key].lifetime_value) for key in sorted(found)
    ]
    assert [type(found[key].marketing_opt_in) for key in sorted(found)] == [bool, bool, bool]
    assert found["ada"].first_purchase_at is not None
    assert found["ada"].first_purchase_at.tzinfo is UTC
    assert isinstance(found["cyd"].lifetime_value, Decimal)


def test_a_batch_is_the_first_events_after_the_watermark_whatever_the_gaps(factory: sessionmaker[Session]) -> None:
    """It counts the first events after the watermark and finds the last, with seq gaps anywhere."""
    seqs = [1, 2, 3, 7, 8, 20, 21, 22, 23, 24, 90, 91, 300]
    with factory() as session, session.begin():
        for seq in seqs:
            session.execute(
                JourneyEvent.__table__.insert(),
                {"seq": seq, "event_id": f"e{seq}", "customer_id": "ada", "type": "t", "occurred_at": NOW,
                 "properties": {}, "ingested_at": NOW},
            )  # fmt: skip

    with factory() as session:
        for after in (0, 1, 3, 5, 8, 24, 91, 300):
            for upto in (3, 22, 91, 299, 300, 1000):
                for limit in (1, 2, 3, 5, 100):
                    batch = [seq for seq in seqs if after < seq <= upto][:limit]
                    expected = (len(batch), batch[-1] if batch else after)
                    assert repo.next_events(session, after=after, upto=upto, limit=limit) == expected
