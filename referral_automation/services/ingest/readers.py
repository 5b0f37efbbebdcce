"""Reading users' input line by line, and keeping account of what was rejected.

Shared by the customer and event ingests. Inputs are read as bytes with a bound on the length of
a line, so one runaway line (a file without newlines, a base64 blob) costs at most that bound in
memory and is rejected without being parsed; the whole of it waits in a temporary file (``Spool``)
until it is written to the reject file.

A reject file holds the rejected lines exactly as they were, byte for byte and in input order
(a byte-order mark opening the input is no part of its first line, and a last line without a
line end is given one), so it can be fixed and ingested again; the reasons go beside it, one JSON line
``{"line", "reason"}`` each, in the same order (``<rejects>.reasons.jsonl``). Every reject also
goes to the caller's ``on_problem``; only the first ``MAX_KEPT_PROBLEMS`` stay in the report, so
an input with millions of bad lines does not fill memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from referral_automation.errors import InputError, Problem
from referral_automation.services.ingest.inputs import READ_ERRORS, UnreadableInputError, read_error_message

#: Lines longer than this are rejected unread (a sane bound for one JSON event or customer).
MAX_LINE_BYTES = 1 << 20
#: How many problems a report keeps; the reject file and ``on_problem`` see all of them.
MAX_KEPT_PROBLEMS = 100
#: How much of a too-long line is held in memory (the rest waits in the spool).
TOO_LONG_PREFIX = 1024
#: Chunks in which a too-long line is copied.
COPY_CHUNK = 1 << 20
#: Lines ``read_lines`` reads ahead of the one it gives (a batch per line would cost more than the line).
LINES_AHEAD = 256
UTF8_BOM = b"\xef\xbb\xbf"

ProblemCallback = Callable[[Problem], None]
ProgressCallback = Callable[[int], None]
T = TypeVar("T")


@dataclass
class IngestReport:
    """What one ingest did. ``read = inserted + updated + duplicates + rejected``.

    ``duplicates`` are events already stored (skipped, as idempotency wants); ``updated`` are
    customers that existed and were upserted. ``problem_count`` also counts input-level problems
    (such as an unknown CSV column) that reject no line but still make the command fail.
    """

    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    problem_count: int = 0
    rejects_path: Path | None = None
    reasons_path: Path | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "already_known": self.duplicates,
            "rejected": self.rejected,
            "problems": self.problem_count,
            "rejects_file": str(self.rejects_path) if self.rejects_path else None,
            "reasons_file": str(self.reasons_path) if self.reasons_path else None,
        }


class Spool:
    """A temporary file where the over-long lines of one ingest wait until they are rejected."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None

    def keep(self, start: bytes, handle: IO[bytes]) -> LongLine:
        """Copy ``start`` and the rest of its line from ``handle`` into the spool."""
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close)
        spool = self._file
        spool.seek(0, 2)
        offset = spool.tell()
        spool.write(start)
        rest, ended = _copy_rest_of_line(handle, spool)
        return LongLine(start[:TOO_LONG_PREFIX], len(start) + rest, ended, self, offset)

    def copy(self, line: LongLine, out: IO[bytes]) -> None:
        assert self._file is not None
        self._file.seek(line.offset)
        left = line.size
        while left:
            chunk = self._file.read(min(left, COPY_CHUNK))
            out.write(chunk)
            left -= len(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line longer than the bound: its first bytes, and where the whole of it waits (if kept)."""

    prefix: bytes
    size: int
    #: Whether it ends with a line end (only the input's last line does not).
    ended: bool
    spool: Spool | None = None
    offset: int = 0

    def write_to(self, out: IO[bytes]) -> None:
        if self.spool is None:
            out.write(self.prefix)
        else:
            self.spool.copy(self, out)


#: A rejected line as it was: its bytes, text (a record from elsewhere), or an over-long line.
RawLine = bytes | str | LongLine


class RejectLog:
    """Writes rejected lines (exact bytes) and their reasons, and reports each problem.

    The files are created (or overwritten) on the first reject only, so a clean run leaves nothing
    behind. ``preamble`` is written first in the reject file (a CSV's header row), so the reject
    file is an input of the same format.
    """

    def __init__(
        self,
        report: IngestReport,
        rejects_path: Path | None,
        on_problem: ProblemCallback | None = None,
        *,
        reasons_path: Path | None = None,
    ) -> None:
        self.report = report
        self.path = rejects_path
        self.reasons_path = reasons_path
        self.on_problem = on_problem
        self.preamble = b""
        self._rejects: IO[bytes] | None = None
        self._reasons: IO[bytes] | None = None

    def reject(self, line: int | None, reason: str, raw: RawLine, *, source: str | None = None) -> None:
        """One bad line: reported, written to the reject files, counted as rejected."""
        self.report.rejected += 1
        self._write(line, reason, raw, source)
        self.problem(line, reason, source=source)

    def problem(self, line: int | None, message: str, *, source: str | None = None) -> None:
        """A problem reported to the user (every reject is one; input-level ones have no raw line)."""
        problem = Problem(source or self.report.source, line, message)
        self.report.problem_count += 1
        if len(self.report.problems) < MAX_KEPT_PROBLEMS:
            self.report.problems.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _write(self, line: int | None, reason: str, raw: RawLine, source: str | None) -> None:
        if self.path is None:
            return
        if self._rejects is None:
            self._open()
        rejects, reasons = self._rejects, self._reasons
        assert rejects is not None
        if isinstance(raw, LongLine):
            raw.write_to(rejects)
            ends_line = raw.ended and raw.spool is not None
        else:
            data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
            rejects.write(data)
            ends_line = data.endswith(b"\n")
        if not ends_line:  # the input's last line, or a record from elsewhere
            rejects.write(b"\n")
        if reasons is not None:
            entry: dict[str, Any] = {"line": line, "reason": reason}
            if source is not None and source != self.report.source:
                entry["source"] = source
            reasons.write(orjson.dumps(entry) + b"\n")

    def _open(self) -> None:
        assert self.path is not None
        try:
            self._rejects = self.path.open("wb")
            if self.reasons_path is not None:
                self._reasons = self.reasons_path.open("wb")
        except OSError as exc:
            failed = exc.filename or self.path
            problem = Problem(str(failed), None, f"cannot write the reject file: {exc.strerror}")
            raise InputError([problem]) from exc
        self._rejects.write(self.preamble)
        self.report.rejects_path = self.path
        self.report.reasons_path = self.reasons_path

    def close(self) -> None:
        for handle in (self._rejects, self._reasons):
            if handle is not None:
                handle.close()
        self._rejects = self._reasons = None


#: One line of a batch: (1-based number, its bytes as read, line end included, or the first bytes
#: of an over-long one, and that ``LongLine``). Numbers count every line, blank ones too.
Line = tuple[int, bytes, LongLine | None]


@dataclass(slots=True)
class LineBatch:
    """Consecutive lines of an input, with the bytes they span (so that region can be read again).

    ``lines`` holds the non-blank lines; ``size`` counts their bytes; ``cut`` says the batch ended
    at a bound, not at the end of the input.
    """

    start_line: int
    start_offset: int
    end_offset: int = 0
    size: int = 0
    lines: list[Line] = field(default_factory=list)
    cut: bool = False


def read_line_batches(
    handle: IO[bytes],
    *,
    max_lines: int,
    max_bytes: int,
    start_line: int = 1,
    start_offset: int = 0,
    end_offset: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    spool: Spool | None = None,
    keep_blank: bool = False,
) -> Iterator[LineBatch]:
    """Non-blank lines (all lines with ``keep_blank``) of a binary input in batches of at most
    ``max_lines`` lines (or about ``max_bytes`` bytes), each at most ``max_line_bytes`` long
    (longer ones kept in ``spool``).

    Reads from ``start_offset`` (the handle must be there) up to ``end_offset`` if given. A UTF-8
    byte-order mark opening the input is not part of its first line. The lines of a batch are
    collected in one loop rather than yielded one by one: the ingest reads hundreds of thousands
    of lines a second. If the input breaks off (a damaged .gz file), the lines read before are
    yielded, then ``UnreadableInputError`` raised.
    """
    number, offset = start_line - 1, start_offset
    readline = handle.readline
    limit = max_line_bytes + 1
    at_end = False
    broken: UnreadableInputError | None = None
    while not at_end and (end_offset is None or offset < end_offset):
        batch = LineBatch(number + 1, offset)
        lines = batch.lines
        append = lines.append
        size = 0
        while len(lines) < max_lines and size < max_bytes and (end_offset is None or offset < end_offset):
            try:
                raw = readline(limit)
                if len(raw) == limit and raw[-1] != 10:  # no newline within the bound
                    long = _long_line(raw, handle, spool)
                    number += 1
                    offset += long.size
                    append((number, long.prefix, long))
                    size += TOO_LONG_PREFIX
                    continue
            except READ_ERRORS as error:
                broken = UnreadableInputError(number + 1, read_error_message(error))
                raw = b""
            if not raw:
                at_end = True
                break
            number += 1
            offset += len(raw)
            if number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[3:]
            if keep_blank or (raw and not raw.isspace()):
                append((number, raw, None))
                size += len(raw)
        batch.end_offset, batch.size = offset, size
        batch.cut = not at_end
        if lines:
            yield batch
    if broken is not None:
        raise broken


def read_lines(
    handle: IO[bytes],
    *,
    start_line: int = 1,
    start_offset: int = 0,
    end_offset: int | None = None,
    max_bytes: int = MAX_LINE_BYTES,
    spool: Spool | None = None,
    keep_blank: bool = False,
) -> Iterator[Line]:
    """Non-blank lines (all with ``keep_blank``) of a binary input one by one (``read_line_batches``
    decides what a line is; it reads them a few at a time, at most ``LINES_AHEAD``)."""
    batches = read_line_batches(
        handle,
        max_lines=LINES_AHEAD,
        max_bytes=max_bytes,
        start_line=start_line,
        start_offset=start_offset,
        end_offset=end_offset,
        max_line_bytes=max_bytes,
        spool=spool,
        keep_blank=keep_blank,
    )
    for batch in batches:
        yield from batch.lines


def _long_line(start: bytes, handle: IO[bytes], spool: Spool | None) -> LongLine:
    if spool is not None:
        return spool.keep(start, handle)
    rest, ended = _copy_rest_of_line(handle, None)
    return LongLine(start[:TOO_LONG_PREFIX], len(start) + rest, ended)


def _copy_rest_of_line(handle: IO[bytes], out: IO[bytes] | None) -> tuple[int, bool]:
    """Consume the rest of an over-long line a chunk at a time (into ``out`` if given): its size,
    and whether it ended with a line end."""
    copied = 0
    while True:
        chunk = handle.readline(COPY_CHUNK)
        copied += len(chunk)
        if out is not None:
            out.write(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return copied, bool(chunk)


def until_unreadable(items: Iterator[T], log: RejectLog) -> Iterator[T]:
    """``items`` (lines or batches of an input); an input that breaks off ends them with a problem,
    and what was read before it is still ingested."""
    try:
        yield from items
    except UnreadableInputError as broken:
        log.problem(broken.line, f"{broken.message}; the lines before it were ingested")
