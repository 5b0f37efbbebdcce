"""SQL of the send path (batched): bulk updates by id, message rows, provider evidence.

Nothing here commits: the calling service owns the transaction (``with session.begin():``).
Every write is one ``executemany`` per shape of row, which is what lets the send benchmark reach
thousands of messages a second on SQLite. The writes of every batch (``bulk_update``,
``insert_message_rows``) go to the driver as plain tuples (``db.driver``): SQLAlchemy's compiling
and per-row parameter processing cost more than SQLite's own work. Each value is converted as
the column's type would convert it (tests/services/test_send_store.py compares the stored rows).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from referral_automation.db.driver import Driver, Timestamps, aware, sqlite_timestamp, unchanged
from referral_automation.db.models import AuditEntry, Message, ReferralRequest, Response, Suppression
from referral_automation.db.session import is_postgres
from referral_automation.db.types import UTCDateTime
from referral_automation.domain.responses import ACCEPTED_BY_PROVIDER

requests_table: Table = ReferralRequest.__table__  # type: ignore[assignment]
messages_table: Table = Message.__table__  # type: ignore[assignment]
responses_table: Table = Response.__table__  # type: ignore[assignment]
suppressions_table: Table = Suppression.__table__  # type: ignore[assignment]
audit_table: Table = AuditEntry.__table__  # type: ignore[assignment]

#: Values per ``IN (...)`` list, well below SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 1000
T = TypeVar("T")


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def dialect_insert(session: Session, table: Table) -> Any:
    """An ``INSERT`` offering ``on_conflict_do_nothing`` on SQLite and PostgreSQL alike."""
    return (postgresql if is_postgres(session) else sqlite).insert(table)


def bulk_update(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``UPDATE table SET … WHERE id = …`` for each row, in as few statements as possible (``BulkUpdate``)."""
    BulkUpdate(session, table, rows).run()


class BulkUpdate:
    """The statements of ``bulk_update``, prepared when built and run by ``run``.

    Rows that set the same values (a claim's lease, a batch's ``sent`` status) become one
    ``UPDATE … WHERE id IN (…)``; the rest one ``executemany`` per set of columns. Per-row
    parameter processing is most of the cost of a send on SQLite, so this matters; and it is all
    done when built, before any statement: on SQLite the first one takes the write lock that the
    other send workers wait for, so a caller builds it before its transaction's first statement.
    """

    def __init__(self, session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self.session = session
        self.table = table
        same_values: dict[tuple[tuple[str, Any], ...], list[str]] = {}
        for row in rows:
            # Rows of one caller list their columns in one order (the send path's with "id" first):
            # no sort needed to group them.
            items = tuple(row.items())
            key = items[1:] if items[0][0] == "id" else tuple(item for item in items if item[0] != "id")
            same_values.setdefault(key, []).append(row["id"])
        values = _Values(session, table)
        self.by_ids: list[tuple[str, tuple[Any, ...], list[str]]] = []
        self.by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for key, ids in same_values.items():
            columns = tuple(column for column, _ in key)
            if len(ids) == 1:
                self.by_shape.setdefault(columns, []).append((*values.row(key), ids[0]))
            else:
                self.by_ids.append((_assignments(table, columns), values.row(key), ids))

    def run(self) -> None:
        if not (self.by_ids or self.by_shape):
            return
        driver, name = Driver(self.session), self.table.name
        for assignments, bound, ids in self.by_ids:
            for part in chunks(ids):
                in_list, listed = driver.any_of(part)
                driver.execute(f"UPDATE {name} SET {assignments} WHERE id {in_list}", (*bound, *listed))
        for columns, group in self.by_shape.items():
            driver.execute_many(f"UPDATE {name} SET {_assignments(self.table, columns)} WHERE id = ?", group)


def _assignments(table: Table, columns: Sequence[str]) -> str:
    return ", ".join(f"{table.c[column].name} = ?" for column in columns)


class _Values:
    """Python values to driver parameters, column by column, as the columns' types convert them.

    ``UTCDateTime`` goes through the driver's timestamp conversion (remembering the last value: a
    batch's rows share ``now``); every other type through SQLAlchemy's own bind processor, if any.
    Built from the session's engine, not its connection, so converting opens no transaction.
    """

    def __init__(self, session: Session, table: Table) -> None:
        self.dialect = session.get_bind().dialect
        self.timestamp_in = aware if self.dialect.name == "postgresql" else sqlite_timestamp
        self.table = table
        self._converters: dict[str, Any] = {}
        self._shapes: dict[tuple[str, ...], list[tuple[int, Any]]] = {}

    def converter(self, column: str) -> Any:
        found = self._converters.get(column)
        if found is None:
            kind = self.table.c[column].type
            if isinstance(kind, UTCDateTime):
                found = Timestamps(self.timestamp_in)
            else:
                found = kind.dialect_impl(self.dialect).bind_processor(self.dialect) or unchanged
            self._converters[column] = found
        return found

    def converting(self, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
        """(position, converter) of the columns whose values need converting (most go as they are)."""
        found = self._shapes.get(columns)
        if found is None:
            converters = [(n, self.converter(column)) for n, column in enumerate(columns)]
            found = self._shapes[columns] = [(n, convert) for n, convert in converters if convert is not unchanged]
        return found

    def row(self, items: Sequence[tuple[str, Any]]) -> tuple[Any, ...]:
        return self.values(tuple(column for column, _ in items), [value for _, value in items])

    def values(self, columns: tuple[str, ...], values: list[Any]) -> tuple[Any, ...]:
        for n, convert in self.converting(columns):
            values[n] = convert(values[n])
        return tuple(values)


def suppressed_addresses(session: Session, emails: Collection[str]) -> set[str]:
    """Which of ``emails`` are on the suppression list, casefolded (stored either way)."""
    wanted = sorted({variant for email in emails for variant in (email, email.casefold())})
    found: set[str] = set()
    for part in chunks(wanted):
        query = select(suppressions_table.c.email).where(suppressions_table.c.email.in_(part))
        found.update(email.casefold() for email in session.execute(query).scalars())
    return found


#: The columns of a message row the send path looks at (``_MESSAGE_TIMES`` are timestamps).
_MESSAGE_COLUMNS = ("id", "status", "provider", "provider_message_id", "created_at", "sent_at", "error")
_MESSAGE_TIMES = frozenset({"created_at", "sent_at"})


def message_rows(session: Session, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The existing message rows among ``message_ids``, by id (through the driver: most batches find none)."""
    driver = Driver(session)
    sql = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM {messages_table.name} WHERE id {driver.IN_LIST}"
    found: dict[str, dict[str, Any]] = {}
    for raw in driver.select_in(sql, message_ids):
        row = dict(zip(_MESSAGE_COLUMNS, raw, strict=True))
        for column in _MESSAGE_TIMES:
            if row[column] is not None:
                row[column] = driver.timestamp_out(row[column])
        found[row["id"]] = row
    return found


def accepted_by_provider(session: Session, messages: Sequence[tuple[str, str, int]]) -> dict[str, str | None]:
    """Messages a provider has reported on (so it accepted them), with the provider's message id if told.

    ``messages`` are (message id, request id, step). A response names its message, or, for the
    first ask only, may name just the request (events that carry no step).
    """
    kinds = sorted(kind.value for kind in ACCEPTED_BY_PROVIDER)
    found: dict[str, str | None] = {}
    by_id = {message_id: (request_id, step) for message_id, request_id, step in messages}
    first_asks = {request_id: message_id for message_id, request_id, step in messages if step == 0}
    r = responses_table
    for part in chunks(list(by_id)):
        query = select(r.c.message_id, r.c.details).where(r.c.message_id.in_(part), r.c.kind.in_(kinds))
        for message_id, details in session.execute(query):
            found.setdefault(message_id, _provider_id(details))
    for part in chunks(list(first_asks)):
        query = select(r.c.referral_request_id, r.c.details).where(
            r.c.referral_request_id.in_(part), r.c.message_id.is_(None), r.c.kind.in_(kinds)
        )
        for request_id, details in session.execute(query):
            found.setdefault(first_asks[request_id], _provider_id(details))
    return found


def _provider_id(details: Any) -> str | None:
    if isinstance(details, dict):
        value = details.get("provider_message_id") or details.get("sg_message_id")
        return str(value) if value else None
    return None


def insert_message_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """New ``sending`` rows; a row already there (same id or same request and step) is kept as it is.

    The rows are converted before the first statement (which, on SQLite, takes the write lock).
    """
    if not rows:
        return
    values = _Values(session, messages_table)
    by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        columns = tuple(row)
        by_shape.setdefault(columns, []).append(values.values(columns, list(row.values())))
    driver = Driver(session)
    for columns, group in by_shape.items():
        names = ", ".join(messages_table.c[column].name for column in columns)
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {messages_table.name} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        driver.execute_many(sql, group)


def insert_audit(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(audit_table.insert(), list(rows))


def stamp(rows: Sequence[dict[str, Any]], **values: Any) -> list[dict[str, Any]]:
    """The same extra columns on every row (``updated_at=now``, say)."""
    return [{**row, **values} for row in rows]


def utc(value: datetime) -> datetime:
    """Datetimes leaving the database are aware (UTCDateTime); keep the type checker convinced."""
    assert value.tzinfo is not None
    return value
