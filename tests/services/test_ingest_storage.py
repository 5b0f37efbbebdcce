"""The event ingest writes rows through the driver: they must be exactly what the ORM would have written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from referral_automation.db.models import JourneyEvent
from referral_automation.services.event_store import sqlite_timestamp
from tests.services.ingest_helpers import Workspace, event, make_workspace

TIMES = [
    "2026-03-01T09:30:00Z",
    "2026-03-01T09:30:00.000001+00:00",
    "2026-03-01T23:59:59.999999-11:30",
    "2024-02-29T00:00:00+14:00",
    "0999-01-02T03:04:05.5+01:00",
]


@pytest.fixture
def ws(db_url: str, tmp_path: Path) -> Workspace:
    return make_workspace(db_url, tmp_path)


def _raw_columns(ws: Workspace) -> dict[str, tuple[object, ...]]:
    with ws.factory() as session:
        rows = session.execute(text("SELECT event_id, occurred_at, ingested_at, properties FROM journey_events"))
        return {row[0]: tuple(row[1:]) for row in rows}


@pytest.mark.parametrize("occurred_at", TIMES)
def test_ingested_rows_are_stored_as_the_orm_stores_them(ws: Workspace, occurred_at: str) -> None:
    """It writes occurred_at, ingested_at and properties in the very representation the ORM writes."""
    now = datetime(2026, 3, 4, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    properties = {"amount": 12.5, "note": "Grüße", "nested": {"list": [1, None, True]}}
    ws.ingest(ws.write("events.jsonl", [event("ingested", occurred_at=occurred_at, properties=properties)]), now=now)
    with ws.factory() as session, session.begin():
        session.add(
            JourneyEvent(
                event_id="orm",
                customer_id="c1",
                type="purchase",
                occurred_at=datetime.fromisoformat(occurred_at),
                properties=properties,
                ingested_at=now,
            )
        )

    raw = _raw_columns(ws)
    assert raw["ingested"][:2] == raw["orm"][:2]
    with ws.factory() as session:
        ingested, orm = (session.query(JourneyEvent).filter_by(event_id=key).one() for key in ("ingested", "orm"))
    assert ingested.occurred_at == orm.occurred_at == datetime.fromisoformat(occurred_at)
    assert ingested.occurred_at.tzinfo is UTC
    assert ingested.ingested_at == now
    assert ingested.properties == orm.properties == properties


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-9, minutes=-30)), UTC])))
def test_the_sqlite_text_matches_sqlalchemy_for_any_time(value: datetime) -> None:
    """It formats any aware time exactly as SQLAlchemy's SQLite DATETIME stores its naive UTC value."""
    from sqlalchemy.dialects.sqlite import DATETIME

    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return
    processor = DATETIME().bind_processor(None)  # type: ignore[arg-type]
    assert processor is not None
    assert sqlite_timestamp(value) == processor(utc.replace(tzinfo=None))


def test_naive_times_are_refused() -> None:
    """It refuses a naive datetime, as UTCDateTime does."""
    with pytest.raises(ValueError, match="aware"):
        sqlite_timestamp(datetime(2026, 1, 1))
