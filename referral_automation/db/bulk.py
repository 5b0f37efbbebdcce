"""Batched writes by column values, through the driver: bulk updates by id and plain inserts.

Every write is one ``executemany`` per shape of row (or one ``UPDATE … WHERE id IN (…)`` for rows
setting the same values), which is what lets the send path reach thousands of messages a second
on SQLite: SQLAlchemy's compiling and per-row parameter processing cost more than SQLite's own
work. Each value is converted as its column's type would convert it (``UTCDateTime`` through the
driver's timestamps, any other type through its own bind processor), so the stored rows are the
ORM's (tests/db/test_bulk.py compares them). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from referral_automation.db.sql import Driver, Timestamps, aware, chunks, sqlite_timestamp, unchanged
from referral_automation.db.types import UTCDateTime


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


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts of column values), skipping any that conflict with a row already there.

    The rows are converted before the first statement (which, on SQLite, takes the write lock).
    """
    if not rows:
        return
    values = _Values(session, table)
    by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        columns = tuple(row)
        by_shape.setdefault(columns, []).append(values.values(columns, list(row.values())))
    driver = Driver(session)
    for columns, group in by_shape.items():
        names = ", ".join(table.c[column].name for column in columns)
        marks = ", ".join("?" * len(columns))
        driver.execute_many(f"INSERT INTO {table.name} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", group)
