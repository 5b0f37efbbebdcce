"""Ingest customers: a CSV (header row) or JSONL input, or records from an API, upserted by id.

The format comes from the name (``.csv``, or ``.jsonl`` / ``.ndjson`` / ``.json-lines`` /
``.jsonlines``, each possibly ``.gz``) or is given (standard input has no name). A customer
already stored is updated with the fields the record gives (the others keep their values); a new
one needs the fields of ``customer_checks.NEW_CUSTOMER_FIELDS`` and gets the defaults for the
rest. In update mode (``update_only``) records change stored customers only, need no more than
``customer_id``, and a record of an unknown customer is rejected. When one input names a
customer twice, the later record wins for the fields it gives.

Bad records (see ``customer_checks``) are reported as ``FILE:LINE: reason``, written to the reject
files and skipped; the good ones are kept. The counts always add up: ``read = inserted + updated
+ rejected``. In a CSV, the header decides for the whole file:

* a missing required column, a duplicated column or an empty header is an ``InputError``,
  naming the column: nothing is ingested, since no row could be right;
* an unknown column is reported once (``FILE:1: unknown column 'x'``) and ignored: the known
  columns are still ingested, and the command fails (exit 1) so the mistake is not missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.errors import InputError, Problem
from referral_automation.services.ingest import customer_checks
from referral_automation.services.ingest.csv_records import CsvRecords
from referral_automation.services.ingest.event_checks import json_error
from referral_automation.services.ingest.inputs import Input, open_input, reasons_path_for, rejects_path_for
from referral_automation.services.ingest.readers import (
    MAX_LINE_BYTES,
    IngestReport,
    Line,
    ProblemCallback,
    ProgressCallback,
    RawLine,
    RejectLog,
    Spool,
    read_lines,
    until_unreadable,
)
from referral_automation.services.ingest.store import upsert_customer_rows
from referral_automation.services.ingest.values import RecordError, describe, record_text

DEFAULT_BATCH_SIZE = 2000
#: The formats and the extensions that name them.
FORMATS = {"csv": (".csv",), "jsonl": (".jsonl", ".ndjson", ".json-lines", ".jsonlines")}
#: (source, line, raw line for the reject file, the record — or why the line is no record)
Numbered = tuple[str, int, RawLine, Mapping[str, Any] | str]


def ingest_customers_file(
    session_factory: sessionmaker[Session],
    path: Path | str,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rejects_path: Path | None = None,
    on_problem: ProblemCallback | None = None,
    on_progress: ProgressCallback | None = None,
    update_only: bool = False,
    file_format: str | None = None,
    stdin: IO[bytes] | None = None,
) -> IngestReport:
    """Upsert the customers of a CSV or JSONL file (gzip-compressed or not), or of standard input
    for ``-`` (``stdin`` if given; ``file_format`` then says which). ``InputError`` if it cannot
    be read at all. Rejected lines go to ``rejects_path`` (default ``<FILE>.rejects.csv`` or
    ``.jsonl`` beside the input), their reasons beside it."""
    not_into = (rejects_path, reasons_path_for(rejects_path)) if rejects_path else ()
    with open_input(path, stdin=stdin, not_into=not_into) as source:
        kind = input_format(source, file_format)
        rejects_path = rejects_path or rejects_path_for(source, FORMATS[kind][0])
        report = IngestReport(source=source.name)
        log = RejectLog(report, rejects_path, on_problem, reasons_path=reasons_path_for(rejects_path))
        spool = Spool()
        try:
            lines = until_unreadable(read_lines(source.handle, spool=spool, keep_blank=kind == "csv"), log)
            records = _csv_records(lines, log, update_only) if kind == "csv" else _jsonl_records(lines, source.name)
            progress = None if on_progress is None else lambda: on_progress(source.position())
            _upsert_all(
                session_factory,
                records,
                log,
                now=now,
                batch_size=batch_size,
                update_only=update_only,
                on_progress=progress,
            )
        finally:
            log.close()
            spool.close()
    return report


def input_format(source: Input, given: str | None) -> str:
    """``csv`` or ``jsonl``: as given, or from the input's name."""
    if given is not None:
        if given not in FORMATS:
            raise InputError([Problem(source.name, None, f"unknown format {given!r} (use csv or jsonl)")])
        return given
    for kind, suffixes in FORMATS.items():
        if source.suffix in suffixes:
            return kind
    known = ", ".join(suffix for suffixes in FORMATS.values() for suffix in suffixes)
    what = "from the extension (use " + known + ", or --format)" if source.path else "of standard input (use --format)"
    raise InputError([Problem(source.name, None, f"cannot tell the format {what}")])


def upsert_customers(
    session_factory: sessionmaker[Session],
    records: Iterable[Mapping[str, Any] | tuple[str, int, Mapping[str, Any]]],
    *,
    now: datetime,
    source: str = "api",
    batch_size: int = DEFAULT_BATCH_SIZE,
    rejects_path: Path | None = None,
    on_problem: ProblemCallback | None = None,
    update_only: bool = False,
) -> IngestReport:
    """Upsert customers from any source: mappings (numbered 1, 2, … in ``source``) or
    ``(source, line, mapping)`` tuples. Same checks as the file ingest."""
    report = IngestReport(source=source)
    reasons = reasons_path_for(rejects_path) if rejects_path else None
    log = RejectLog(report, rejects_path, on_problem, reasons_path=reasons)

    def numbered() -> Iterator[Numbered]:
        for index, item in enumerate(records, start=1):
            item_source, line, record = item if isinstance(item, tuple) else (source, index, item)
            yield item_source, line, record_text(record), record

    try:
        _upsert_all(session_factory, numbered(), log, now=now, batch_size=batch_size, update_only=update_only)
    finally:
        log.close()
    return report


@dataclass(slots=True)
class _Customer:
    """One customer's records in a batch: the fields they give, merged in order, and their lines."""

    row: dict[str, Any]
    lines: list[tuple[int, str, int, RawLine]] = field(default_factory=list)


#: A reject waiting for its batch: (position in the input, source, line, reason, raw line).
_Reject = tuple[int, str, int, str, RawLine]


def _upsert_all(
    session_factory: sessionmaker[Session],
    records: Iterable[Numbered],
    log: RejectLog,
    *,
    now: datetime,
    batch_size: int,
    update_only: bool,
    on_progress: Callable[[], None] | None = None,
) -> None:
    """Check records and upsert them a batch at a time; rejects come out in input order."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    batch: dict[str, _Customer] = {}
    rejects: list[_Reject] = []
    for position, (source, line, raw, record) in enumerate(records):
        log.report.read += 1
        try:
            if isinstance(record, str):
                raise RecordError(record)  # the line could not be read as a record
            row = customer_checks.check_customer(record, update_only=update_only)
        except RecordError as bad:
            rejects.append((position, source, line, str(bad), raw))
            continue
        customer = batch.setdefault(row["customer_id"], _Customer({}))
        customer.row.update(row)
        customer.lines.append((position, source, line, raw))
        if len(batch) >= batch_size:
            _flush(session_factory, batch, rejects, log, now=now, update_only=update_only)
            if on_progress is not None:
                on_progress()
    _flush(session_factory, batch, rejects, log, now=now, update_only=update_only)
    if on_progress is not None:
        on_progress()


def _flush(
    session_factory: sessionmaker[Session],
    batch: dict[str, _Customer],
    rejects: list[_Reject],
    log: RejectLog,
    *,
    now: datetime,
    update_only: bool,
) -> None:
    """Write a batch; count each record as inserted (a new customer's first), updated, or rejected
    (update mode, an unknown customer), and report the batch's rejects in input order."""
    report = log.report
    if batch:
        rows = [customer.row for customer in batch.values()]
        existing = upsert_customer_rows(session_factory, rows, now=now, update_only=update_only)
        for customer_id, customer in batch.items():
            if customer_id in existing:
                report.updated += len(customer.lines)
            elif update_only:
                reason = f"unknown customer {customer_id!r} (update mode changes only customers already stored)"
                rejects.extend((position, source, line, reason, raw) for position, source, line, raw in customer.lines)
            else:
                report.inserted += 1
                report.updated += len(customer.lines) - 1  # later records of a new customer update it
    for _, source, line, reason, raw in sorted(rejects, key=_position):
        log.reject(line, reason, raw, source=source)
    batch.clear()
    rejects.clear()


def _position(reject: _Reject) -> int:
    return reject[0]


def _csv_records(lines: Iterator[Line], log: RejectLog, update_only: bool) -> Iterator[Numbered]:
    """Rows of a CSV input as records of the header's known columns, numbered by their first line.

    The header's bytes open the reject file, so it is a CSV file like the input.
    """
    source = log.report.source
    records = CsvRecords(lines)
    rows = iter(records)
    header = next(rows, None)
    if header is None:
        raise InputError([Problem(source, 1, "empty file: expected a header row")])
    if header.fields is None or not isinstance(header.raw, bytes):
        raise InputError([Problem(source, header.line, f"not a valid CSV header: {header.error}")])
    columns = _columns(header.fields, source, header.line, log, update_only)
    records.expected_fields = len(columns)
    log.preamble = header.raw
    known = [(index, name) for index, name in enumerate(columns) if name in customer_checks.KNOWN]
    for record in rows:
        if record.fields is None:
            yield source, record.line, record.raw, record.error or "not a valid CSV row"
        else:
            yield source, record.line, record.raw, {name: record.fields[index] for index, name in known}


def _columns(header: list[str], source: str, line: int, log: RejectLog, update_only: bool) -> list[str]:
    """The header's column names; an ``InputError`` names every duplicated or missing column."""
    columns = [name.strip() for name in header]
    problems = [Problem(source, line, f"column {name!r} appears twice") for name in _twice(columns)]
    missing = [name for name in customer_checks.required_fields(update_only=update_only) if name not in columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        names = ", ".join(repr(name) for name in missing)
        hint = "" if update_only else f" ({customer_checks.NEW_CUSTOMER_HINT})"
        problems.append(Problem(source, line, f"missing {noun} {names}{hint}"))
    if problems:
        raise InputError(problems)
    for name in columns:
        if name not in customer_checks.KNOWN:
            known = ", ".join(customer_checks.FIELDS)
            log.problem(line, f"unknown column {name[:60]!r} (ignored; known: {known})")
    return columns


def _twice(names: list[str]) -> list[str]:
    return sorted({name for name in names if names.count(name) > 1})


def _jsonl_records(lines: Iterator[Line], source: str) -> Iterator[Numbered]:
    for number, data, long in lines:
        if long is not None:
            yield source, number, long, f"line is longer than {MAX_LINE_BYTES} bytes"
            continue
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            yield source, number, data, json_error(exc)
            continue
        if type(record) is not dict:
            yield source, number, data, f"expected a JSON object, got {describe(record)}"
            continue
        yield source, number, data, record
