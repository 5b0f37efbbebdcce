"""Reading users' input files line by line, and keeping account of what was rejected.

Shared by the customer and event ingests. Files are read as bytes with a bound on the length of
a line, so one runaway line (a file without newlines, a base64 blob) costs at most that bound in
memory and is rejected without being parsed. Every rejected line goes to the reject file and to
the caller's ``on_problem``; only the first ``MAX_KEPT_PROBLEMS`` stay in the report, so a file
with millions of bad lines does not fill memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from referral_automation.errors import InputError, Problem

#: Lines longer than this are rejected unread (a sane bound for one JSON event or customer).
MAX_LINE_BYTES = 1 << 20
#: How many problems a report keeps; the reject file and ``on_problem`` see all of them.
MAX_KEPT_PROBLEMS = 100
#: How much of a too-long line the reject file keeps.
TOO_LONG_PREFIX = 1024
#: Read buffer of input files.
READ_BUFFER = 1 << 20

ProblemCallback = Callable[[Problem], None]
ProgressCallback = Callable[[int], None]


@dataclass
class IngestReport:
    """What one ingest did. ``read = inserted + updated + duplicates + rejected``.

    ``duplicates`` are events already stored (skipped, as idempotency wants); ``updated`` are
    customers that existed and were upserted. ``problem_count`` also counts file-level problems
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
        }


class RejectLog:
    """Writes rejects as JSON lines ``{"line", "reason", "raw"}`` and reports each problem.

    The reject file is created (or overwritten) on the first reject only, so a clean run leaves
    nothing behind.
    """

    def __init__(
        self,
        report: IngestReport,
        rejects_path: Path | None,
        on_problem: ProblemCallback | None = None,
    ) -> None:
        self.report = report
        self.path = rejects_path
        self.on_problem = on_problem
        self._handle: IO[bytes] | None = None

    def reject(self, line: int | None, reason: str, raw: bytes | str, *, source: str | None = None) -> None:
        """One bad line: reported, written to the reject file, counted as rejected."""
        self.report.rejected += 1
        self._write(line, reason, raw)
        self.problem(line, reason, source=source)

    def problem(self, line: int | None, message: str, *, source: str | None = None) -> None:
        """A problem reported to the user (every reject is one; file-level ones have no raw line)."""
        problem = Problem(source or self.report.source, line, message)
        self.report.problem_count += 1
        if len(self.report.problems) < MAX_KEPT_PROBLEMS:
            self.report.problems.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _write(self, line: int | None, reason: str, raw: bytes | str) -> None:
        if self.path is None:
            return
        if self._handle is None:
            try:
                self._handle = self.path.open("wb")
            except OSError as exc:
                problem = Problem(str(self.path), None, f"cannot write the reject file: {exc.strerror}")
                raise InputError([problem]) from exc
            self.report.rejects_path = self.path
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self._handle.write(orjson.dumps({"line": line, "reason": reason, "raw": text}) + b"\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def default_rejects_path(path: Path) -> Path:
    """``events.jsonl`` → ``events.jsonl.rejects.jsonl``, beside the input."""
    return path.with_name(path.name + ".rejects.jsonl")


def open_input(path: Path, *, rejects_path: Path | None = None) -> IO[bytes]:
    """Open an input file for reading; a file that cannot be opened is an ``InputError``."""
    if rejects_path is not None and _same_file(path, rejects_path):
        raise InputError([Problem(str(path), None, "the reject file cannot be the input file")])
    try:
        return path.open("rb", buffering=READ_BUFFER)
    except OSError as exc:
        raise InputError([Problem(str(path), None, f"cannot open: {exc.strerror or exc}")]) from exc


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


#: One non-blank line: (1-based number, its bytes stripped, offset where the next line starts,
#: too long). A too-long line carries only its first ``TOO_LONG_PREFIX`` bytes.
RawLine = tuple[int, bytes, int, bool]


@dataclass(slots=True)
class LineBatch:
    """Consecutive lines of a file, with the bytes they span (so that region can be read again).

    ``lines`` holds (number, bytes stripped, too long) of the non-blank lines; ``size`` counts
    their bytes.
    """

    start_line: int
    start_offset: int
    end_offset: int = 0
    size: int = 0
    lines: list[tuple[int, bytes, bool]] = field(default_factory=list)


def read_line_batches(
    handle: IO[bytes],
    *,
    max_lines: int,
    max_bytes: int,
    start_line: int = 1,
    start_offset: int = 0,
    end_offset: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[LineBatch]:
    """Non-blank lines of a binary file in batches of at most ``max_lines`` lines (or about
    ``max_bytes`` bytes), each line at most ``max_line_bytes`` long (longer ones flagged).

    Reads from ``start_offset`` (the handle must be there) up to ``end_offset`` if given. A UTF-8
    byte-order mark at the start is dropped. The lines of a batch are collected in one loop rather
    than yielded one by one: the ingest reads hundreds of thousands of lines a second.
    """
    number, offset = start_line - 1, start_offset
    readline = handle.readline
    limit = max_line_bytes + 1
    at_end = False
    while not at_end and (end_offset is None or offset < end_offset):
        batch = LineBatch(number + 1, offset)
        lines = batch.lines
        append = lines.append
        size = 0
        while len(lines) < max_lines and size < max_bytes and (end_offset is None or offset < end_offset):
            raw = readline(limit)
            if not raw:
                at_end = True
                break
            number += 1
            offset += len(raw)
            if len(raw) == limit and raw[-1] != 10:  # no newline within the bound
                offset += _skip_rest_of_line(handle)
                append((number, raw[:TOO_LONG_PREFIX], True))
                size += TOO_LONG_PREFIX
                continue
            data = raw.strip()
            if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:].strip()
            if data:
                append((number, data, False))
                size += len(data)
        batch.end_offset, batch.size = offset, size
        if lines:
            yield batch


def read_lines(
    handle: IO[bytes],
    *,
    start_line: int = 1,
    start_offset: int = 0,
    end_offset: int | None = None,
    max_bytes: int = MAX_LINE_BYTES,
) -> Iterator[RawLine]:
    """Non-blank lines of a binary file one by one, with the offset where the next one starts
    (``read_line_batches`` decides what a line is)."""
    batches = read_line_batches(
        handle,
        max_lines=1,
        max_bytes=max_bytes,
        start_line=start_line,
        start_offset=start_offset,
        end_offset=end_offset,
        max_line_bytes=max_bytes,
    )
    for batch in batches:
        for number, data, too_long in batch.lines:
            yield number, data, batch.end_offset, too_long


def _skip_rest_of_line(handle: IO[bytes]) -> int:
    """Consume the rest of an over-long line, a chunk at a time; return how many bytes it had."""
    skipped = 0
    while True:
        chunk = handle.readline(READ_BUFFER)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def file_size(handle: IO[bytes]) -> int:
    import os

    return os.fstat(handle.fileno()).st_size
