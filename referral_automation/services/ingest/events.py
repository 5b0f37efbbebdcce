"""Ingest journey events: stream JSON lines (a file, a .gz file, standard input, or records from an
API) into ``journey_events``.

Idempotent by ``event_id``: an event already stored is skipped and counted as ``duplicates``, so
re-ingesting a file inserts nothing. Bad lines never stop the ingest: each is reported as
``FILE:LINE: reason`` (``on_problem``), written to the reject file, and the good lines are kept.
A line is bad when it is not a JSON object with the event fields of the right types, when
``occurred_at`` is not ISO 8601 with a time zone, when its type is named in ``events.yaml`` and
its properties do not match, when its customer is unknown, or when its ``event_id`` already
appeared earlier in the same input (the later line is rejected). An ``event_id`` stored before
this run is "already known", never bad, even where the file repeats it: idempotency comes first.

Memory stays flat however big the input: lines are read and written in batches (one transaction
each; a big input's batches are written by a writer process while the next is checked, see
writer.py), the cache of known customers is bounded, and an ``event_id`` repeated across batches is
found through the database (an event inserted by this run has a ``seq`` above the run's start);
the line of its first occurrence is then looked up by reading that earlier batch's byte range of
the input again (``Input.read_again``), instead of keeping every id of the input in memory.
"""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.services.ingest.event_checks import CheckedEvent, EventChecker, RecordError
from referral_automation.services.ingest.inputs import (
    Input,
    open_input,
    reasons_path_for,
    rejects_path_for,
)
from referral_automation.services.ingest.readers import (
    MAX_LINE_BYTES,
    IngestReport,
    LineBatch,
    ProblemCallback,
    ProgressCallback,
    RawLine,
    RejectLog,
    Spool,
    read_line_batches,
    read_lines,
    until_unreadable,
)
from referral_automation.services.ingest.store import storage_rows
from referral_automation.services.ingest.values import check_json_value, record_text
from referral_automation.services.ingest.writer import (
    BatchWrite,
    BatchWriter,
    PendingWrite,
    batch_writer,
)

#: Lines per transaction. Each commit writes every index page its rows touched, and events of
#: random customers touch pages all over the (customer_id, occurred_at) index, so bigger commits
#: write each page for more rows (benchmarks/HISTORY.md has the figures of each size).
DEFAULT_BATCH_SIZE = 50_000
#: A batch is also written once its lines hold this many bytes (long lines, bounded memory).
MAX_BATCH_BYTES = 8 << 20
#: Files at least this big are written by a writer process beside the checking one
#: (writer.py); below it, starting that process would cost more than it saves.
WRITER_PROCESS_MIN_BYTES = 16 << 20
#: Earlier batches whose ``event_id → line`` maps are kept while locating in-file duplicates.
LOCATED_BATCHES_KEPT = 4

EventRecord = Mapping[str, Any] | str | bytes


def ingest_events_file(
    session_factory: sessionmaker[Session],
    config: AppConfig,
    path: Path | str,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rejects_path: Path | None = None,
    on_problem: ProblemCallback | None = None,
    on_progress: ProgressCallback | None = None,
    writer_process: bool | None = None,
    stdin: IO[bytes] | None = None,
) -> IngestReport:
    """Ingest a JSON lines file (gzip-compressed or not), or standard input for ``-`` (``stdin``
    if given). Raises ``InputError`` if it cannot be opened.

    ``on_progress`` gets the bytes of the input read after each batch. Rejected lines go to
    ``rejects_path`` (default ``<FILE>.rejects.jsonl`` beside the input, ``stdin.rejects.jsonl``
    for standard input) and their reasons beside it, written only if any. ``writer_process``
    chooses whether batches are written by a separate process while the next is checked (``None``:
    for inputs of ``WRITER_PROCESS_MIN_BYTES`` and more, or, when the size is unknown, of more
    than one batch).
    """
    with open_input(path, stdin=stdin, rereadable=True, not_into=_reject_files(rejects_path)) as source:
        rejects_path = rejects_path or rejects_path_for(source, ".jsonl")
        report = IngestReport(source=source.name)
        log = RejectLog(report, rejects_path, on_problem, reasons_path=reasons_path_for(rejects_path))
        checker = EventChecker(config.events)
        spool = Spool()
        batches = read_line_batches(source.handle, max_lines=batch_size, max_bytes=MAX_BATCH_BYTES, spool=spool)
        writer = None
        try:
            stream = until_unreadable(batches, log)
            head = list(itertools.islice(stream, 1))
            if writer_process is None:
                writer_process = _big(source, head[0] if head else None)
            writer = batch_writer(session_factory, process=writer_process)
            ingest = _EventIngest(checker, log, writer, now=now, batch_size=batch_size)
            ingest.locator = _InputLocator(source, checker)
            for lines in _handing_on(head, stream):
                ingest.add_lines(lines)
                if on_progress is not None:
                    on_progress(source.position())
            ingest.finish()
        finally:
            if writer is not None:
                writer.close()
            log.close()
            spool.close()
        if on_progress is not None:
            on_progress(source.size if source.size is not None else source.position())
    return report


def _reject_files(rejects_path: Path | None) -> tuple[Path | None, ...]:
    """The reject files a caller chose, which must not be the input (the default ones never are)."""
    return (rejects_path, reasons_path_for(rejects_path)) if rejects_path is not None else ()


def _handing_on(head: list[LineBatch], rest: Iterator[LineBatch]) -> Iterator[LineBatch]:
    """The batches of ``head``, then of ``rest``, holding none once handed on (a batch is megabytes)."""
    while head:
        yield head.pop()
    yield from rest


def _big(source: Input, first: LineBatch | None) -> bool:
    """Whether the input is worth a writer process: big on disk, or (size unknown) more than a batch."""
    if source.size is not None and not source.compressed:
        return source.size >= WRITER_PROCESS_MIN_BYTES
    return first is not None and first.cut


def ingest_event_records(
    session_factory: sessionmaker[Session],
    config: AppConfig,
    records: Iterable[tuple[str, int, EventRecord] | Mapping[str, Any]],
    *,
    now: datetime,
    source: str = "api",
    batch_size: int = DEFAULT_BATCH_SIZE,
    rejects_path: Path | None = None,
    on_problem: ProblemCallback | None = None,
) -> IngestReport:
    """Ingest events from any source: mappings (numbered 1, 2, … in ``source``) or
    ``(source, line, record)`` tuples whose record is a mapping or one JSON text.

    Same checks and idempotency as the file ingest; rejects go to ``rejects_path`` if given.
    """
    report = IngestReport(source=source)
    log = RejectLog(report, rejects_path, on_problem)
    writer = batch_writer(session_factory, process=False)
    ingest = _EventIngest(EventChecker(config.events), log, writer, now=now, batch_size=batch_size)
    try:
        for index, item in enumerate(records, start=1):
            if isinstance(item, tuple):
                item_source, line, record = item
            else:
                item_source, line, record = source, index, item
            ingest.add_record(item_source, line, record)
        ingest.finish()
    finally:
        writer.close()
        log.close()
    return report


#: A checked line waiting in a batch: (position in the batch, source, line, raw text, row).
_Row = tuple[int, str, int, bytes | str, CheckedEvent]
#: A rejected line waiting in a batch: (position in the batch, source, line, reason, raw line).
_Reject = tuple[int, str, int, str, RawLine]


@dataclass
class _Batch:
    """Lines read since the last write; rejects wait here so they come out in input order."""

    count: int = 0
    start_offset: int = 0
    start_line: int = 1
    end_offset: int = 0
    size: int = 0
    rows: list[_Row] = field(default_factory=list)
    rejects: list[_Reject] = field(default_factory=list)
    #: event_id → (position, line) of its first checked line in this batch
    first_of: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Region:
    """Where one written batch came from: its ``seq`` range and its bytes in the file."""

    seq_after: int
    seq_last: int
    start_offset: int
    end_offset: int
    start_line: int


class _EventIngest:
    """Checks lines as they come and writes them a batch at a time."""

    def __init__(
        self, checker: EventChecker, log: RejectLog, writer: BatchWriter, *, now: datetime, batch_size: int
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.writer = writer
        self.checker = checker
        self.log = log
        self.report = log.report
        self.now = now
        self.batch_size = batch_size
        self.batch = _Batch()
        self.source = log.report.source
        #: The batch handed to the writer whose rejects are not reported yet, and its write.
        self.pending: tuple[_Batch, PendingWrite | None] | None = None
        self.locator: _InputLocator | None = None
        self.run_start_seq: int | None = None

    def add_lines(self, lines: LineBatch) -> None:
        """A batch of a file's lines, checked in one tight loop and written at once.

        The batch remembers the bytes it spans, so the locator can read them again.
        """
        self.flush()
        batch = self.batch
        batch.start_offset, batch.start_line, batch.end_offset = lines.start_offset, lines.start_line, lines.end_offset
        batch.count, batch.size = len(lines.lines), lines.size
        parse, check, keep, source = self.checker.parse, self.checker.check, self._keep, self.source
        rejects = batch.rejects
        for position, (number, data, long) in enumerate(lines.lines):
            if long is not None:
                rejects.append((position, source, number, f"line is longer than {MAX_LINE_BYTES} bytes", long))
                continue
            try:
                row = check(parse(data))
            except RecordError as bad:
                rejects.append((position, source, number, str(bad), data))
                continue
            keep(position, source, number, data, row)
        self.flush()

    def add_record(self, source: str, line: int, record: EventRecord) -> None:
        """One record from a non-file source: a mapping, or a JSON text."""
        batch = self.batch
        raw: bytes | str
        try:
            if isinstance(record, str | bytes):
                raw = record
                data = record.encode() if isinstance(record, str) else record
                obj = self.checker.parse(data.strip())
            else:
                raw = record_text(record)
                obj = dict(record)
                check_json_value(obj)
            row = self.checker.check(obj)
        except RecordError as bad:
            batch.rejects.append((batch.count, source, line, str(bad), raw))
        else:
            batch.size += len(row[4])
            self._keep(batch.count, source, line, raw, row)
        batch.count += 1
        if batch.count >= self.batch_size or batch.size >= MAX_BATCH_BYTES:
            self.flush()

    def _keep(self, position: int, source: str, line: int, raw: bytes | str, row: CheckedEvent) -> None:
        """Keep the row at ``position`` of the batch, or reject it when its event_id came earlier in the batch."""
        batch = self.batch
        first_position, first_line = batch.first_of.setdefault(row[0], (position, line))
        if first_position != position:
            batch.rejects.append((position, source, line, _duplicate(row[0], first_line), raw))
        else:
            batch.rows.append((position, source, line, raw, row))

    def finish(self) -> None:
        """Write what is left and report the last rejects."""
        self.flush()
        self.settle()

    def flush(self) -> bool:
        """Hand the current batch to the writer (one transaction), then report the rejects of the
        batch before it. False if the batch was empty.

        The writer may still be writing this batch when ``flush`` returns: with a writer process,
        the next batch is checked meanwhile. The writer takes a batch only once the one before is
        written, so a failed write leaves nothing else half done.
        """
        batch, self.batch = self.batch, _Batch()
        if batch.count == 0:
            return False
        self.report.read += batch.count
        batch.first_of.clear()  # only needed while the batch was read
        written = None
        if batch.rows:
            rows = storage_rows([item[4] for item in batch.rows], self.now, postgres=self.writer.postgres)
            written = self.writer.submit(rows)
        self.settle()
        self.pending = (batch, written)
        return True

    def settle(self) -> None:
        """Wait for the batch in flight, if any, and report its rejects in input order."""
        if self.pending is None:
            return
        (batch, written), self.pending = self.pending, None
        rejects = batch.rejects
        if written is not None:
            rejects.extend(self._rejects_of_write(batch, written.result()))
        rejects.sort(key=_position)
        for _, source, line, reason, raw in rejects:
            self.log.reject(line, reason, raw, source=source)

    def _rejects_of_write(self, batch: _Batch, written: BatchWrite) -> list[_Reject]:
        """Count what the writer stored; return the rejects only the database could tell."""
        if self.run_start_seq is None:
            self.run_start_seq = written.seq_before
        self.report.inserted += written.inserted
        if written.inserted and self.locator is not None:
            seqs = (written.seq_before, written.seq_last)
            self.locator.regions.append(_Region(*seqs, batch.start_offset, batch.end_offset, batch.start_line))
        rejects: list[_Reject] = []
        unknown = written.unknown_customers
        if not unknown and not written.stored:
            return rejects  # every row went in
        for position, source, line, raw, row in batch.rows:
            if row[1] in unknown:
                rejects.append((position, source, line, f"unknown customer {row[1]!r}", raw))
                continue
            seq = written.stored.get(row[0])
            if seq is not None and seq <= written.seq_before:
                reason = self._duplicate_reason(row[0], seq)
                if reason is None:
                    self.report.duplicates += 1
                else:
                    rejects.append((position, source, line, reason, raw))
        return rejects

    def _duplicate_reason(self, event_id: str, seq: int) -> str | None:
        """Why a stored ``event_id`` is a bad line (repeated in this input), or None (known before)."""
        assert self.run_start_seq is not None
        if seq <= self.run_start_seq:
            return None
        if self.locator is None:
            return f"duplicate event_id {event_id!r} (first earlier in this input)"
        first = self.locator.first_line(event_id, seq)
        return None if first is None else _duplicate(event_id, first)


class _InputLocator:
    """Finds the line of an event inserted earlier in this run, by reading its batch's bytes again."""

    def __init__(self, source: Input, checker: EventChecker) -> None:
        self.source = source
        self.checker = checker
        self.regions: list[_Region] = []
        self._maps: OrderedDict[int, dict[str, int]] = OrderedDict()

    def first_line(self, event_id: str, seq: int) -> int | None:
        index = bisect.bisect_left(self.regions, seq, key=lambda region: region.seq_last)
        if index == len(self.regions) or not self.regions[index].seq_after < seq:
            return None  # not written by this run (another process, at the same time)
        return self._line_map(index).get(event_id)

    def _line_map(self, index: int) -> dict[str, int]:
        if index in self._maps:
            self._maps.move_to_end(index)
            return self._maps[index]
        region = self.regions[index]
        lines: dict[str, int] = {}
        with self.source.read_again(region.start_offset) as handle:
            for number, line, long in read_lines(
                handle, start_line=region.start_line, start_offset=region.start_offset, end_offset=region.end_offset
            ):
                if long is not None:
                    continue
                try:
                    event_id = self.checker.check(self.checker.parse(line))[0]
                except RecordError:
                    continue
                lines.setdefault(event_id, number)
        self._maps[index] = lines
        if len(self._maps) > LOCATED_BATCHES_KEPT:
            self._maps.popitem(last=False)
        return lines


def _position(item: _Reject) -> int:
    return item[0]


def _duplicate(event_id: str, first_line: int) -> str:
    return f"duplicate event_id {event_id!r} (first at line {first_line})"
