"""The ingest's SQL: checked journey events in batches (one transaction each, plain driver-level
SQL) and customers upserted by id.

The ingest inserts hundreds of thousands of rows a second, where SQLAlchemy's per-value type
processing (``UTCDateTime``, ``JSON``) would cost more than the database itself. So rows go to the
driver as plain values already in the form those types would produce:

* SQLite: ``occurred_at`` and ``ingested_at`` as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
  (exactly SQLAlchemy's SQLite ``DATETIME`` storage format, which ``UTCDateTime`` reads back as
  aware UTC), ``properties`` as JSON text. tests/services/ingest/test_storage.py proves the round trip.
* PostgreSQL: the same UTC text with ``+00:00`` (``timestamptz`` input) and JSON text (``jsonb``
  input), by ``COPY`` into a stage table (``db.sql.Driver.staged_insert``).
  Each batch takes ``SHARE ROW EXCLUSIVE`` on journey_events, so ingests commit one at a time
  and ``seq`` values become visible in order (and this run's ``max(seq)`` bookkeeping is exact).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, JourneyEvent
from referral_automation.db.sql import Driver, dialect_insert, sqlite_timestamp

if TYPE_CHECKING:  # the writer process (writer.py) starts faster without the checks and the config
    from referral_automation.services.ingest.event_checks import CheckedEvent

_COLUMNS = ("event_id", "customer_id", "type", "occurred_at", "properties", "ingested_at")
_EVENTS: Table = JourneyEvent.__table__  # type: ignore[assignment]
_TABLE = _EVENTS.name
#: A row as ``EventTransaction.insert`` takes it, in ``_COLUMNS`` order (see ``storage_rows``).
StorageRow = tuple[str, str, str, str, str, str]
_UTC_OFFSET = "+00:00"


class EventTransaction:
    """What the ingest does inside one batch's transaction, in each database's fastest plain SQL."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.db = Driver(session)
        self.postgres = self.db.postgres

    def max_seq(self) -> int:
        value = self.connection.execute(select(func.max(JourneyEvent.seq))).scalar_one()
        return int(value or 0)

    def known_customers(self, customer_ids: Sequence[str]) -> set[str]:
        """The ids among ``customer_ids`` that name a stored customer."""
        sql = f"SELECT customer_id FROM {_CUSTOMERS} WHERE customer_id {self.db.IN_LIST}"
        return {row[0] for row in self.db.select_in(sql, customer_ids)}

    def stored_seqs(self, event_ids: Sequence[str]) -> dict[str, int]:
        """``seq`` of the events among ``event_ids`` that are stored."""
        sql = f"SELECT event_id, seq FROM {_TABLE} WHERE event_id {self.db.IN_LIST}"
        return {row[0]: row[1] for row in self.db.select_in(sql, event_ids)}

    def insert(self, rows: Sequence[StorageRow]) -> int:
        """Insert rows whose ``event_id`` is new, in order; return how many were inserted.

        PostgreSQL gets ``COPY`` and one ``INSERT … SELECT`` per batch (``Driver.staged_insert``);
        SQLite, where statements are cheap, an ``executemany`` of the rows as they are.
        """
        if not rows:
            return 0
        if self.postgres:
            sql = self.db.staged_insert(_EVENTS, _COLUMNS, rows, "ON CONFLICT (event_id) DO NOTHING", ordered=True)
            return max(self.db.execute(sql), 0)
        return max(self.db.execute_many(_SQLITE_INSERT, rows), 0)


def storage_rows(rows: Sequence[CheckedEvent], ingested_at: datetime, *, postgres: bool) -> list[StorageRow]:
    """Checked rows as ``EventTransaction.insert`` takes them, grouped by customer: all text.

    Built by the process that checks the lines, so a writer process only inserts. Timestamps are
    SQLite's naive UTC text (``sqlite_timestamp``), or for PostgreSQL that text with ``+00:00``,
    which ``COPY`` reads as the same ``timestamptz``. The rows are grouped by customer (a stable
    sort: each customer's events keep their order, hence their ``seq`` order), so neighbouring
    inserts land on the same pages of the (customer_id, occurred_at) index (benchmarks/HISTORY.md).
    """
    rows = sorted(rows, key=_customer_id)
    stamp = sqlite_timestamp(ingested_at)
    if postgres:
        stamp += _UTC_OFFSET
        return [(e, c, t, at + _UTC_OFFSET, p, stamp) for e, c, t, at, p in rows]
    return [(e, c, t, at, p, stamp) for e, c, t, at, p in rows]


_CUSTOMER_TABLE: Table = Customer.__table__  # type: ignore[assignment]
_CUSTOMERS = _CUSTOMER_TABLE.name
_customer_id = itemgetter(1)
_SQLITE_INSERT = (
    f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
)


@contextmanager
def event_transaction(session_factory: sessionmaker[Session]) -> Iterator[EventTransaction]:
    """One batch's transaction (``BEGIN IMMEDIATE`` on SQLite, see db/session.py)."""
    with session_factory() as session, session.begin():
        transaction = EventTransaction(session)
        if transaction.postgres:
            transaction.connection.exec_driver_sql(f"LOCK TABLE {_TABLE} IN SHARE ROW EXCLUSIVE MODE")
        yield transaction


def upsert_customer_rows(
    session_factory: sessionmaker[Session], rows: list[dict[str, Any]], *, now: datetime, update_only: bool = False
) -> set[str]:
    """Insert or update checked customer rows (distinct ids) in one transaction; return the ids
    that were stored before.

    A row updates only the fields it gives (``customer_checks.check_customer``): one statement per
    set of given fields. A new customer gets the defaults for the others; with ``update_only``
    there is none: rows of customers not stored are left out (a plain ``UPDATE``, since an insert's
    row would lack the columns it does not give).
    """
    from referral_automation.services.ingest.customer_checks import DEFAULTS

    with session_factory() as session, session.begin():
        db = Driver(session)
        query = f"SELECT customer_id FROM {_CUSTOMERS} WHERE customer_id {db.IN_LIST}"
        existing = {found for (found,) in db.select_in(query, [row["customer_id"] for row in rows])}
        if update_only:
            rows = [row for row in rows if row["customer_id"] in existing]
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(frozenset(row), []).append(row)
        for given, group in groups.items():
            if update_only:
                if len(given) > 1:
                    _update_customers(session, group, now)
                continue
            statement = dialect_insert(session, _CUSTOMER_TABLE)
            updates = {name: statement.excluded[name] for name in given if name != "customer_id"}
            statement = statement.on_conflict_do_update(
                index_elements=["customer_id"], set_={**updates, "updated_at": statement.excluded.updated_at}
            )
            session.execute(statement, [{**DEFAULTS, **row, "created_at": now, "updated_at": now} for row in group])
    return existing


def _update_customers(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """``UPDATE customers SET <the rows' fields> WHERE customer_id = …`` for rows of one shape."""
    statement = update(_CUSTOMER_TABLE).where(_CUSTOMER_TABLE.c.customer_id == bindparam("b_customer_id"))
    params = [
        {"b_customer_id": row["customer_id"], **{k: v for k, v in row.items() if k != "customer_id"}, "updated_at": now}
        for row in rows
    ]
    session.execute(statement, params)
