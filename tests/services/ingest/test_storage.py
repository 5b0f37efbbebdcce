"""The event ingest writes rows through the driver: they must be exactly what the ORM would have written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from referral_automation.config import load_config
from referral_automation.db.models import JourneyEvent
from referral_automation.services.ingest.event_checks import EventChecker
from tests.support.ingest import ROOT, Workspace, event

TIMES = [
    "2026-03-01T09:30:00Z",
    "2026-03-01T09:30:00.000001+00:00",
    "2026-03-01T23:59:59.999999-11:30",
    "2024-02-29T00:00:00+14:00",
    "1900-01-02T03:04:05.5+01:00",
]


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


ZONES = [UTC, timezone(timedelta(hours=-9, minutes=-30)), timezone(timedelta(hours=14))]


def _formats(value: datetime) -> list[str]:
    """Ways an export may write ``value``: with Z, with its offset, with and without a fraction, a space."""
    utc = value.astimezone(UTC)
    return [
        utc.strftime("%Y-%m-%dT%H:%M:%SZ") if utc.microsecond == 0 else utc.isoformat().replace("+00:00", "Z"),
        f"{utc:%Y-%m-%dT%H:%M:%S}Z",
        value.isoformat(),
        value.isoformat(" ", "milliseconds"),
        utc.isoformat(),
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2199, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-9, minutes=-30)), timezone(timedelta(hours=14))]),
    )
)
def test_the_checked_time_is_sqlalchemys_sqlite_text_however_it_was_written(value: datetime) -> None:
    """It turns any way of writing a time into exactly the text SQLAlchemy's SQLite DATETIME stores for it."""
    from sqlalchemy.dialects.sqlite import DATETIME

    checker = EventChecker(load_config(ROOT / "config").events)
    processor = DATETIME().bind_processor(None)  # type: ignore[arg-type]
    assert processor is not None
    for written in _formats(value):
        parsed = datetime.fromisoformat(written.replace("Z", "+00:00"))
        expected = processor(parsed.astimezone(UTC).replace(tzinfo=None))
        assert checker.check(event("e1", occurred_at=written))[3] == expected, written


def test_a_week_date_is_not_taken_for_a_calendar_date() -> None:
    """It formats an ISO week date (also 20 characters with a Z) through the datetime, not by cutting the text."""
    checker = EventChecker(load_config(ROOT / "config").events)

    assert checker.check(event("e1", occurred_at="2026-W10-1T09:30:00Z"))[3] == "2026-03-02 09:30:00.000000"
