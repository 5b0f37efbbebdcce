"""Ingest customers: a CSV (header row) or JSONL file, or records from an API, upserted by id.

The format comes from the extension: ``.csv``, or ``.jsonl`` / ``.ndjson`` / ``.json-lines`` /
``.jsonlines``. A customer already stored is updated with the fields the record gives (the others
keep their values); a new one gets the defaults for fields not given. When one input names a
customer twice, the later record wins for the fields it gives.

Bad records (see ``customer_checks``) are reported as ``FILE:LINE: reason``, written to the
reject file and skipped; the good ones are kept. In a CSV, the header decides for the whole file:

* a missing ``customer_id`` or ``email`` column, a duplicated column or an empty header is an
  ``InputError`` — nothing is ingested, since no row could be right;
* an unknown column is reported once (``FILE:1: unknown column 'x'``) and ignored: the known
  columns are still ingested, and the command fails (exit 1) so the mistake is not missed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.errors import InputError, Problem
from referral_automation.services.ingest import customer_checks
from referral_automation.services.ingest.event_checks import RecordError
from referral_automation.services.ingest.readers import (
    MAX_LINE_BYTES,
    IngestReport,
    ProblemCallback,
    ProgressCallback,
    RejectLog,
    default_rejects_path,
    open_input,
    read_lines,
)
from referral_automation.services.ingest.store import upsert_customer_rows

DEFAULT_BATCH_SIZE = 2000
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json-lines", ".jsonlines")
#: (source, line, raw text for the reject file, the record — or why the line is no record)
Numbered = tuple[str, int, str, Mapping[str, Any] | str]


def ingest_customers_file(
    session_factory: sessionmaker[Session],
    path: Path,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rejects_path: Path | None = None,
    on_problem: ProblemCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Upsert the customers of a CSV or JSONL file. ``InputError`` if it cannot be read at all."""
    suffix = path.suffix.lower()
    if suffix != ".csv" and suffix not in JSONL_SUFFIXES:
        known = ", ".join((".csv", *JSONL_SUFFIXES))
        raise InputError([Problem(str(path), None, f"cannot tell the format from the extension (use {known})")])
    rejects_path = rejects_path or default_rejects_path(path)
    report = IngestReport(source=str(path))
    log = RejectLog(report, rejects_path, on_problem)
    with open_input(path, rejects_path=rejects_path) as handle:
        records = _csv_records(handle, log) if suffix == ".csv" else _jsonl_records(handle, str(path))
        tell = handle.tell
        progress = None if on_progress is None else lambda: on_progress(tell())
        try:
            _upsert_all(session_factory, records, log, now=now, batch_size=batch_size, on_progress=progress)
        finally:
            log.close()
    return report


def upsert_customers(
    session_factory: sessionmaker[Session],
    records: Iterable[Mapping[str, Any] | tuple[str, int, Mapping[str, Any]]],
    *,
    now: datetime,
    source: str = "api",
    batch_size: int = DEFAULT_BATCH_SIZE,
    rejects_path: Path | None = None,
    on_problem: ProblemCallback | None = None,
) -> IngestReport:
    """Upsert customers from any source: mappings (numbered 1, 2, … in ``source``) or
    ``(source, line, mapping)`` tuples. Same checks as the file ingest."""
    report = IngestReport(source=source)
    log = RejectLog(report, rejects_path, on_problem)

    def numbered() -> Iterator[Numbered]:
        for index, item in enumerate(records, start=1):
            item_source, line, record = item if isinstance(item, tuple) else (source, index, item)
            yield item_source, line, _raw_text(record), record

    try:
        _upsert_all(session_factory, numbered(), log, now=now, batch_size=batch_size)
    finally:
        log.close()
    return report


def _upsert_all(
    session_factory: sessionmaker[Session],
    records: Iterable[Numbered],
    log: RejectLog,
    *,
    now: datetime,
    batch_size: int,
    on_progress: Callable[[], None] | None = None,
) -> None:
    """Check records and upsert them a batch at a time; rejects come out in line order."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    batch: dict[str, tuple[int, dict[str, Any]]] = {}
    rejects: list[tuple[str, int, str, str]] = []
    for source, line, raw, record in records:
        log.report.read += 1
        try:
            if isinstance(record, str):
                raise RecordError(record)  # the line could not be read as a record
            row = customer_checks.check_customer(record)
        except RecordError as bad:
            rejects.append((source, line, str(bad), raw))
            continue
        earlier = batch.get(row["customer_id"])
        batch[row["customer_id"]] = (line, {**earlier[1], **row} if earlier else row)
        if earlier:
            log.report.updated += 1  # the earlier record of this customer, folded into the later one
        if len(batch) >= batch_size:
            _flush(session_factory, batch, rejects, log, now, on_progress)
    _flush(session_factory, batch, rejects, log, now, on_progress)


def _flush(
    session_factory: sessionmaker[Session],
    batch: dict[str, tuple[int, dict[str, Any]]],
    rejects: list[tuple[str, int, str, str]],
    log: RejectLog,
    now: datetime,
    on_progress: Callable[[], None] | None,
) -> None:
    if batch:
        inserted, updated = upsert_customer_rows(session_factory, [row for _, row in batch.values()], now=now)
        log.report.inserted += inserted
        log.report.updated += updated
    for source, line, reason, raw in sorted(rejects, key=lambda item: item[1]):
        log.reject(line, reason, raw, source=source)
    batch.clear()
    rejects.clear()
    if on_progress is not None:
        on_progress()


def _csv_records(handle: IO[bytes], log: RejectLog) -> Iterator[Numbered]:
    """Rows of a CSV file as records of the header's known columns, numbered by their first line.

    The reader is fed line by line through ``consumed``, so a bad row's reject keeps its exact text
    (a quoted field may span lines). Bytes that are not UTF-8 survive as surrogates, which the
    checks then reject for that row alone.
    """
    source = log.report.source
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in text:
            consumed.append(line)
            yield line

    reader = csv.reader(lines())
    columns = _header(reader, source, log)
    known = [(index, name) for index, name in enumerate(columns) if name in customer_checks.FIELDS]
    while True:
        start = reader.line_num + 1
        consumed.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield source, start, _raw(consumed), f"not a valid CSV row: {exc}"
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(columns):
            yield source, start, _raw(consumed), f"expected {len(columns)} fields, got {len(row)}"
            continue
        yield source, start, _raw(consumed), {name: row[index] for index, name in known}


def _raw(lines: list[str]) -> str:
    return "".join(lines).rstrip("\r\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header(reader: Any, source: str, log: RejectLog) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise InputError([Problem(source, 1, "empty file: expected a header row")]) from None
    except csv.Error as exc:
        raise InputError([Problem(source, 1, f"not a valid CSV header: {exc}")]) from None
    columns = [name.strip() for name in header]
    problems = [Problem(source, 1, f"column {name!r} appears twice") for name in _twice(columns)]
    problems += [
        Problem(source, 1, f"missing column {name!r}") for name in customer_checks.REQUIRED if name not in columns
    ]
    if problems:
        raise InputError(problems)
    for name in columns:
        if name not in customer_checks.FIELDS:
            log.problem(1, f"unknown column {name!r} (ignored; known: {', '.join(customer_checks.FIELDS)})")
    return columns


def _twice(names: list[str]) -> list[str]:
    return sorted({name for name in names if names.count(name) > 1})


def _jsonl_records(handle: IO[bytes], source: str) -> Iterator[Numbered]:
    import orjson

    from referral_automation.services.ingest.event_checks import describe, json_error

    for number, data, _end, too_long in read_lines(handle):
        raw = data.decode("utf-8", "replace")
        if too_long:
            yield source, number, raw + "...", f"line is longer than {MAX_LINE_BYTES} bytes"
            continue
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            yield source, number, raw, json_error(exc)
            continue
        if type(record) is not dict:
            yield source, number, raw, f"expected a JSON object, got {describe(record)}"
            continue
        yield source, number, raw, record


def _raw_text(record: Mapping[str, Any]) -> str:
    import orjson

    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:
        return repr(record)
