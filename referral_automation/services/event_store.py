"""Writing checked journey events in batches: one transaction each, plain driver-level SQL.

The ingest inserts hundreds of thousands of rows a second, where SQLAlchemy's per-value type
processing (``UTCDateTime``, ``JSON``) would cost more than the database itself. So rows go to the
driver as plain values already in the form those types would produce:

* SQLite: ``occurred_at`` and ``ingested_at`` as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
  (exactly SQLAlchemy's SQLite ``DATETIME`` storage format, which ``UTCDateTime`` reads back as
  aware UTC), ``properties`` as JSON text. tests/services/test_ingest_storage.py proves the round trip.
* PostgreSQL: the same UTC text with ``+00:00`` (``timestamptz`` input) and JSON text (``jsonb``
  input), by ``COPY``.
  Each batch takes ``SHARE ROW EXCLUSIVE`` on journey_events, so ingests commit one at a time
  and ``seq`` values become visible in order (and this run's ``max(seq)`` bookkeeping is exact).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.driver import sqlite_timestamp
from referral_automation.db.models import Customer, JourneyEvent

if TYPE_CHECKING:  # the writer process (event_writer.py) starts faster without the checks and the config
    from referral_automation.services.event_checks import CheckedEvent

#: Largest IN list in one query (SQLite allows 32,766 variables; PostgreSQL far more).
IN_CHUNK = 5000
_COLUMNS = "event_id, customer_id, type, occurred_at, properties, ingested_at"
_TABLE = JourneyEvent.__tablename__
#: A row as ``EventTransaction.insert`` takes it, in ``_COLUMNS`` order (see ``storage_rows``).
StorageRow = tuple[str, str, str, str, str, str]
_UTC_OFFSET = "+00:00"


class EventTransaction:
    """What the ingest does inside one batch's transaction, in each database's fastest plain SQL."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"

    def max_seq(self) -> int:
        value = self.connection.execute(select(func.max(JourneyEvent.seq))).scalar_one()
        return int(value or 0)

    def known_customers(self, customer_ids: Sequence[str]) -> set[str]:
        """The ids among ``customer_ids`` that name a stored customer."""
        sql = f"SELECT customer_id FROM {_CUSTOMERS} WHERE customer_id"
        return {row[0] for row in self._select_in(sql, customer_ids)}

    def stored_seqs(self, event_ids: Sequence[str]) -> dict[str, int]:
        """``seq`` of the events among ``event_ids`` that are stored."""
        sql = f"SELECT event_id, seq FROM {_TABLE} WHERE event_id"
        return {row[0]: row[1] for row in self._select_in(sql, event_ids)}

    def _select_in(self, sql: str, values: Sequence[str]) -> Iterator[Sequence[Any]]:
        """``sql`` completed with ``IN (…)`` (SQLite, in chunks) or ``= ANY(array)`` (PostgreSQL)."""
        if self.postgres:
            yield from self.connection.exec_driver_sql(f"{sql} = ANY(%s::text[])", (list(values),))
            return
        for start in range(0, len(values), IN_CHUNK):
            chunk = tuple(values[start : start + IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            yield from self.connection.exec_driver_sql(f"{sql} IN ({marks})", chunk)

    def insert(self, rows: Sequence[StorageRow]) -> int:
        """Insert rows whose ``event_id`` is new, in order; return how many were inserted.

        PostgreSQL gets ``COPY`` and one ``INSERT … SELECT`` per batch (measured twice as fast as one
        ``INSERT … SELECT FROM unnest(arrays)``, and several times a statement per row); SQLite,
        where statements are cheap, an ``executemany`` of the rows as they are.
        """
        if not rows:
            return 0
        if self.postgres:
            return self._copy_and_insert(rows)
        result = self.connection.exec_driver_sql(_SQLITE_INSERT, rows)
        return max(result.rowcount, 0)

    def _copy_and_insert(self, rows: Sequence[StorageRow]) -> int:
        """PostgreSQL: ``COPY`` the batch into a temporary table, then one ``INSERT … SELECT``.

        The temporary table lives as long as the connection and empties itself at commit.
        """
        cursor = self.connection.connection.cursor()
        try:
            cursor.execute(_POSTGRES_STAGE)
            with cursor.copy(_POSTGRES_COPY) as copy:
                for position, row in enumerate(rows):
                    copy.write_row((position, *row))
            cursor.execute(_POSTGRES_INSERT)
            return max(cursor.rowcount, 0)
        finally:
            cursor.close()


def storage_rows(rows: Sequence[CheckedEvent], ingested_at: datetime, *, postgres: bool) -> list[StorageRow]:
    """Checked rows as ``EventTransaction.insert`` takes them, grouped by customer: all text.

    Built by the process that checks the lines, so a writer process only inserts. Timestamps are
    SQLite's naive UTC text (``sqlite_timestamp``), or for PostgreSQL that text with ``+00:00``,
    which ``COPY`` reads as the same ``timestamptz``. The rows are grouped by customer (a stable
    sort: each customer's events keep their order, hence their ``seq`` order), so neighbouring
    inserts land on the same pages of the (customer_id, occurred_at) index: measured 1.2-1.6x
    faster on SQLite at a million events.
    """
    rows = sorted(rows, key=_customer_id)
    stamp = sqlite_timestamp(ingested_at)
    if postgres:
        stamp += _UTC_OFFSET
        return [(e, c, t, at + _UTC_OFFSET, p, stamp) for e, c, t, at, p in rows]
    return [(e, c, t, at, p, stamp) for e, c, t, at, p in rows]


_CUSTOMERS = Customer.__tablename__
_customer_id = itemgetter(1)
_SQLITE_INSERT = f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
_STAGE = "referral_ingest_events"
_POSTGRES_STAGE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (position integer, event_id text, customer_id text, "
    "type text, occurred_at timestamptz, properties jsonb, ingested_at timestamptz) ON COMMIT DELETE ROWS"
)
_POSTGRES_COPY = f"COPY {_STAGE} (position, {_COLUMNS}) FROM STDIN"
_POSTGRES_INSERT = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM {_STAGE} ORDER BY position "
    "ON CONFLICT (event_id) DO NOTHING"
)


@contextmanager
def event_transaction(session_factory: sessionmaker[Session]) -> Iterator[EventTransaction]:
    """One batch's transaction (``BEGIN IMMEDIATE`` on SQLite, see db/session.py)."""
    with session_factory() as session, session.begin():
        transaction = EventTransaction(session.connection())
        if transaction.postgres:
            transaction.connection.exec_driver_sql(f"LOCK TABLE {_TABLE} IN SHARE ROW EXCLUSIVE MODE")
        yield transaction
