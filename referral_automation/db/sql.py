"""The one raw-SQL layer: plain DBAPI statements inside a session's transaction, for the hot paths.

Ingest, detection and sending read and write tens of thousands of rows a second. SQLAlchemy's
per-row and per-value work (compiling, ``Row`` objects, ``UTCDateTime`` and ``JSON`` processing)
then costs more than the database itself, so these paths hand plain tuples to the driver, in the
representation the column types would produce themselves (tests/db/test_sql.py proves the round
trips):

* SQLite: timestamps as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's SQLite
  ``DATETIME`` storage format, which ``UTCDateTime`` reads back as aware UTC), JSON as text,
  booleans as 0/1. Lists of values go in ``IN (?, ?, …)`` chunks.
* PostgreSQL (psycopg): aware datetimes (``timestamptz``), ``jsonb`` read as text (decoded like
  SQLite's), lists of values as one array parameter (``= ANY(%s)``), bulk inserts by ``COPY``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from referral_automation.db.session import is_postgres

#: Values per ``IN (…)`` list, for every query that takes one: well below the bound-parameter
#: limits of SQLite (32,766) and PostgreSQL (65,535).
IN_CHUNK = 5000
T = TypeVar("T")


def chunks(values: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size`` (default ``IN_CHUNK``, read when called, so a test can
    make it small): one ``IN (…)`` list each."""
    size = size or IN_CHUNK
    for start in range(0, len(values), size):
        yield values[start : start + size]


def dialect_insert(session: Session, table: Table) -> Any:
    """An ``INSERT`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update``, on SQLite and PostgreSQL alike."""
    return (postgresql if is_postgres(session) else sqlite).insert(table)


def sqlite_timestamp(value: datetime) -> str:
    """An aware datetime as SQLAlchemy stores a ``UTCDateTime`` on SQLite: naive UTC text.

    ``YYYY-MM-DD HH:MM:SS.ffffff`` is the SQLite ``DATETIME`` storage format; a UTC
    ``isoformat`` with microseconds is exactly that followed by ``+00:00``. Naive values are
    refused, as ``UTCDateTime`` refuses them.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def from_sqlite_timestamp(value: str) -> datetime:
    """The aware UTC datetime ``UTCDateTime`` reads from SQLite's text (``fromisoformat``, then UTC)."""
    try:
        return datetime.fromisoformat(value + "+00:00")  # the common case: naive UTC text
    except ValueError:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def from_postgres_timestamp(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def aware(value: datetime) -> datetime:
    """``value`` for a ``timestamptz`` parameter: aware, as ``UTCDateTime`` insists."""
    if value.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got {value!r}")
    return value


#: A run of digits that may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(r"[0-9]{19}")


def from_json(value: Any) -> Any:
    """A JSON column's value as SQLAlchemy's ``JSON`` (``json.loads``) gives it, from its text
    (SQLite's column, PostgreSQL's ``jsonb`` selected with ``json_text``): decoded by orjson (far
    faster) unless the text holds what orjson reads otherwise (integers beyond 64 bits) or refuses
    (NaN, lone surrogates). A value already decoded is returned as it is."""
    if not isinstance(value, str):
        return value
    if _LONG_NUMBER.search(value) is None:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return json.loads(value)


def unchanged(value: Any) -> Any:
    """The conversion of a value that needs none (so callers can tell and skip it)."""
    return value


class Timestamps:
    """``Driver.timestamp_in`` remembering its last value: a batch's rows share one ``detected_at``."""

    def __init__(self, convert: Callable[[datetime], Any]) -> None:
        self._convert = convert
        self._last: tuple[datetime, Any] | None = None

    def __call__(self, value: datetime | None) -> Any:
        if value is None:
            return None
        last = self._last
        if last is not None and last[0] is value:
            return last[1]
        converted = self._convert(value)
        self._last = (value, converted)
        return converted


class Driver:
    """The session's DBAPI connection, with the few statement shapes detection needs.

    Write SQL with ``?`` placeholders; on PostgreSQL they become ``%s``. ``IN_LIST`` in a query
    stands for ``IN (…)`` (SQLite) or ``= ANY(%s)`` (PostgreSQL) over the values passed to ``select_in``.
    """

    IN_LIST = "{in_list}"

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.dialect = connection.dialect
        self.postgres = connection.dialect.name == "postgresql"
        self._dbapi = connection.connection
        self.timestamp_in = aware if self.postgres else sqlite_timestamp
        self.timestamp_out = from_postgres_timestamp if self.postgres else from_sqlite_timestamp

    def decoder(self, column: Column[Any]) -> Callable[[Any], Any]:
        """What SQLAlchemy itself does to a raw SQLite value of ``column`` on the way out (such as
        ``REAL`` to a ``Decimal`` of the column's scale). psycopg's values (``numeric`` as ``Decimal``,
        ``boolean`` as ``bool``) are already what SQLAlchemy hands on unchanged."""
        if self.postgres:
            return unchanged
        processor = column.type.dialect_impl(self.dialect).result_processor(self.dialect, None)
        return processor if processor is not None else unchanged

    def json_text(self, column: str) -> str:
        """``column`` (JSON) selected as text, for ``from_json``: psycopg decodes ``jsonb`` with
        ``json.loads``, several times slower than orjson on the scan's tens of thousands of rows."""
        return f"{column}::text" if self.postgres else column

    def timestamps_in(self) -> Timestamps:
        """A converter of one column's datetimes to parameters (see ``Timestamps``)."""
        return Timestamps(self.timestamp_in)

    def any_of(self, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """``IN (?, …)`` (SQLite) or ``= ANY(?)`` (PostgreSQL) over a short list, with its parameters."""
        if self.postgres:
            return "= ANY(?)", (list(values),)
        return f"IN ({','.join('?' * len(values))})", tuple(values)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def select_in(self, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` whose ``IN_LIST`` takes ``values`` (then ``params`` for the later ``?``)."""
        if not values:
            return
        if self.postgres:
            yield from self.select(sql.replace(self.IN_LIST, "= ANY(?)"), (list(values), *params))
            return
        for chunk in chunks(values):
            marks = f"IN ({','.join('?' * len(chunk))})"
            yield from self.select(sql.replace(self.IN_LIST, marks), (*chunk, *params))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the rows it changed."""
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def copy_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """PostgreSQL: ``COPY … FROM STDIN`` of ``rows``."""
        cursor = self._dbapi.cursor()
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def staged_insert(
        self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str, *, ordered: bool = False
    ) -> str:
        """PostgreSQL: ``COPY`` ``rows`` into a temporary table of ``columns`` (emptied at commit)
        and return the one ``INSERT … SELECT`` (ending in ``tail``) that moves them over. It is faster
        than ``unnest`` of column arrays, and psycopg spends less CPU on it: COPY rows need no
        arrays built (benchmarks/HISTORY.md).

        ``ordered`` inserts the rows in the order given (a serial key, such as events' ``seq``,
        then follows it): the stage gets a position column to sort by.
        """
        names = ", ".join(columns)
        # Named after its columns too: a stage lives as long as its connection, and one of another
        # shape by the same name would refuse these rows.
        stage = f"referral_stage_{table.name}_{zlib.crc32(names.encode()):08x}"
        types = ", ".join(f"{name} {table.c[name].type.compile(self.dialect)}" for name in columns)
        self.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (position bigint, {types}) ON COMMIT DELETE ROWS")
        self.copy_rows(f"COPY {stage} (position, {names}) FROM STDIN", [(n, *row) for n, row in enumerate(rows)])
        order = " ORDER BY position" if ordered else ""
        return f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage}{order} {tail}"

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement per row (SQLite); the rows they changed in all."""
        if not rows:
            return 0
        cursor = self._dbapi.cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
            return int(cursor.rowcount)
        finally:
            cursor.close()
