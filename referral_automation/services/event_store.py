"""Writing checked journey events in batches: one transaction each, driver-level ``executemany``.

The ingest inserts hundreds of thousands of rows a second, where SQLAlchemy's per-value type
processing (``UTCDateTime``, ``JSON``) would cost more than the database itself. So rows go to the
driver as plain values already in the form those types would produce:

* SQLite: ``occurred_at`` and ``ingested_at`` as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
  (exactly SQLAlchemy's SQLite ``DATETIME`` storage format, which ``UTCDateTime`` reads back as
  aware UTC), ``properties`` as JSON text. tests/services/test_ingest_storage.py proves the round trip.
* PostgreSQL: aware datetimes (``timestamptz``) and JSON text cast to ``jsonb``. Each batch takes
  ``SHARE ROW EXCLUSIVE`` on journey_events, so ingests commit one at a time and ``seq`` values
  become visible in order: detection's watermark never skips a row committed late.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, JourneyEvent
from referral_automation.services.event_checks import CheckedEvent

#: Largest IN list in one query (SQLite allows 32,766 variables; PostgreSQL far more).
IN_CHUNK = 5000
_COLUMNS = "event_id, customer_id, type, occurred_at, properties, ingested_at"
_TABLE = JourneyEvent.__tablename__


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLAlchemy stores a ``UTCDateTime`` on SQLite: naive UTC text.

    ``YYYY-MM-DD HH:MM:SS.ffffff`` is SQLAlchemy's SQLite ``DATETIME`` storage format; a UTC
    ``isoformat`` with microseconds is exactly that followed by ``+00:00``.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class EventTransaction:
    """What the ingest does inside one batch's transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"

    def max_seq(self) -> int:
        value = self.connection.execute(select(func.max(JourneyEvent.seq))).scalar_one()
        return int(value or 0)

    def known_customers(self, customer_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(customer_ids):
            query = select(Customer.customer_id).where(Customer.customer_id.in_(chunk))
            found.update(self.connection.execute(query).scalars())
        return found

    def stored_seqs(self, event_ids: Sequence[str]) -> dict[str, int]:
        """``seq`` of the events among ``event_ids`` that are stored."""
        found: dict[str, int] = {}
        for chunk in _chunks(event_ids):
            query = select(JourneyEvent.event_id, JourneyEvent.seq).where(JourneyEvent.event_id.in_(chunk))
            found.update((event_id, seq) for event_id, seq in self.connection.execute(query))
        return found

    def insert(self, rows: Sequence[CheckedEvent], ingested_at: datetime) -> int:
        """Insert rows whose ``event_id`` is new; return how many were inserted."""
        if not rows:
            return 0
        params: list[tuple[Any, ...]]
        if self.postgres:
            values = "%s, %s, %s, %s, %s::jsonb, %s"
            sql = f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES ({values}) ON CONFLICT (event_id) DO NOTHING"
            params = [(*row, ingested_at) for row in rows]
        else:
            sql = f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
            stamp = sqlite_timestamp(ingested_at)
            params = [(e, c, t, sqlite_timestamp(at), p, stamp) for e, c, t, at, p in rows]
        result = self.connection.exec_driver_sql(sql, params)
        return max(result.rowcount, 0)


@contextmanager
def event_transaction(session_factory: sessionmaker[Session]) -> Iterator[EventTransaction]:
    """One batch's transaction (``BEGIN IMMEDIATE`` on SQLite, see db/session.py)."""
    with session_factory() as session, session.begin():
        transaction = EventTransaction(session.connection())
        if transaction.postgres:
            transaction.connection.exec_driver_sql(f"LOCK TABLE {_TABLE} IN SHARE ROW EXCLUSIVE MODE")
        yield transaction


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]
