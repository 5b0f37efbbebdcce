"""The records of a CSV input, each with the exact bytes of the lines it spans.

A quoted field may span lines, so a single stray quote (``"First99`` with no closing quote) would
draw every following line into one field until the csv module's field limit: a thousand rows
lost as one reject (issue 13). Here a record may span at most ``MAX_RECORD_LINES`` lines and
``MAX_RECORD_BYTES`` bytes. A record that does not parse within them, or that spans several lines
and then has the wrong number of fields, is taken to start with a stray quote: its first line
alone is refused and reading resumes at the line after it, so the rows it had drawn in are read
again as rows of their own. A record over one line that parses into the right number of fields
is judged as a whole.

The csv module reads in strict mode, so malformed quoting (``"a"b``) is an error instead of
being guessed at. Bytes that are not UTF-8 survive as lone surrogates, which the checks then
refuse for that record alone.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from referral_automation.services.ingest.readers import MAX_LINE_BYTES, Line, LongLine

#: Physical lines one record (a quoted field over several lines) may span.
MAX_RECORD_LINES = 100
#: Bytes one record may span.
MAX_RECORD_BYTES = MAX_LINE_BYTES


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One record: the line it starts on, its bytes as they were (or the over-long line), and its
    fields, or why it is no record."""

    line: int
    raw: bytes | LongLine
    fields: list[str] | None = None
    error: str | None = None


class _RecordTooLongError(Exception):
    """The record needs more lines or bytes than a record may span."""


class _OverLongLineError(Exception):
    """The record reached an over-long line."""


class _Feed:
    """The lines the csv module reads, one record's worth at a time, within the bounds.

    Lines given back (``give_back``) are read again before new ones. ``taken`` holds the lines of
    the record being read.
    """

    def __init__(self, lines: Iterator[Line], *, max_lines: int, max_bytes: int) -> None:
        self.source = lines
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.pending: deque[Line] = deque()
        self.taken: list[Line] = []
        self.size = 0

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.taken and (len(self.taken) >= self.max_lines or self.size >= self.max_bytes):
            raise _RecordTooLongError
        line = self.pending.popleft() if self.pending else next(self.source)
        self.taken.append(line)
        if line[2] is not None:
            raise _OverLongLineError
        self.size += len(line[1])
        return line[1].decode("utf-8", "surrogateescape")

    def start(self) -> None:
        self.taken = []
        self.size = 0

    def give_back(self, lines: list[Line]) -> None:
        self.pending.extendleft(reversed(lines))


class CsvRecords:
    """The records of ``lines`` (every physical line of the input, blank ones too), in order.

    The first record is the header; once the caller sets ``expected_fields`` from it, a record
    over several lines with another number of fields is split as a stray quote's. A record's
    ``fields`` is None when it could not be read, with the reason in ``error``; blank lines give
    no record.
    """

    def __init__(
        self, lines: Iterator[Line], *, max_lines: int = MAX_RECORD_LINES, max_bytes: int = MAX_RECORD_BYTES
    ) -> None:
        self.feed = _Feed(lines, max_lines=max_lines, max_bytes=max_bytes)
        self.expected_fields: int | None = None

    def __iter__(self) -> Iterator[CsvRecord]:
        feed = self.feed
        reader = csv.reader(feed, strict=True)
        while True:
            feed.start()
            try:
                fields: list[str] | None = next(reader)
                error = None
            except StopIteration:
                return
            except (_RecordTooLongError, _OverLongLineError, csv.Error) as exc:
                fields, error = None, self._reason(exc)
            taken = feed.taken
            if fields is not None and _blank(fields):
                continue
            expected = self.expected_fields
            if fields is not None and expected is not None and len(fields) != expected:
                spans = f" (lines {taken[0][0]}-{taken[-1][0]}: a stray quote?)" if len(taken) > 1 else ""
                error = f"expected {expected} fields, got {len(fields)}{spans}"
                fields = None
            if fields is None and len(taken) > 1:
                feed.give_back(taken[1:])  # the first line alone is refused; the others are read again
                taken = taken[:1]
            yield _record(taken, fields, error)

    def _reason(self, error: Exception) -> str:
        feed = self.feed
        if isinstance(error, _RecordTooLongError):
            bounds = f"{feed.max_lines} lines or {feed.max_bytes} bytes"
            return f"a quoted field is not closed within {bounds} (a stray quote?)"
        if isinstance(error, _OverLongLineError):
            if len(feed.taken) == 1:
                return f"line is longer than {MAX_LINE_BYTES} bytes"
            return "a quoted field is not closed before an over-long line (a stray quote?)"
        if str(error) == "unexpected end of data":
            return "a quoted field is not closed before the end of the input (a stray quote?)"
        return f"not a valid CSV row: {error}"


def _record(taken: list[Line], fields: list[str] | None, error: str | None) -> CsvRecord:
    number, _, long = taken[0]
    if long is not None:
        return CsvRecord(number, long, None, error)
    return CsvRecord(number, b"".join(line[1] for line in taken), fields, error)


def _blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())
