"""Reading inputs in batches of lines: boundaries, offsets, blank and over-long lines, broken inputs;
and the reject files: the lines exactly as they were, their reasons beside them."""

from __future__ import annotations

import gzip
import io
import itertools
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_automation.errors import Problem
from referral_automation.services.ingest.inputs import UnreadableInputError
from referral_automation.services.ingest.readers import (
    TOO_LONG_PREFIX,
    IngestReport,
    LongLine,
    RejectLog,
    Spool,
    read_line_batches,
    read_lines,
)


def _batches(data: bytes, **limits: int) -> list[tuple[int, int, int, list[tuple[int, bytes, LongLine | None]]]]:
    options = {"max_lines": 1000, "max_bytes": 1 << 20} | limits
    return [
        (b.start_line, b.start_offset, b.end_offset, b.lines) for b in read_line_batches(io.BytesIO(data), **options)
    ]


def test_a_batch_ends_at_max_lines_and_says_which_bytes_it_spans() -> None:
    """It cuts after two lines; each batch's offsets delimit exactly its lines, kept with their line ends."""
    data = b'{"a":1}\n{"a":2}\n{"a":3}\n'

    assert _batches(data, max_lines=2) == [
        (1, 0, 16, [(1, b'{"a":1}\n', None), (2, b'{"a":2}\n', None)]),
        (3, 16, 24, [(3, b'{"a":3}\n', None)]),
    ]


def test_a_batch_ends_once_its_lines_hold_max_bytes() -> None:
    """It starts a new batch once the lines read reach the byte bound, and says the first was cut."""
    data = b"aaaa\nbbbb\ncccc\n"

    batches = list(read_line_batches(io.BytesIO(data), max_lines=1000, max_bytes=8))

    assert [[number for number, _, _ in batch.lines] for batch in batches] == [[1, 2], [3]]
    assert [batch.cut for batch in batches] == [True, False]


def test_blank_lines_keep_their_numbers_and_a_byte_order_mark_is_dropped() -> None:
    """It skips blank and whitespace-only lines but counts them, keeps CR LF, drops a leading BOM."""
    data = b"\xef\xbb\xbfone\r\n\n   \ntwo"

    assert _batches(data) == [(1, 0, len(data), [(1, b"one\r\n", None), (4, b"two", None)])]


def test_blank_lines_are_kept_when_asked() -> None:
    """It gives every line, blank ones too, for inputs where a blank line can belong to a record."""
    data = b"a\n\n  \nb\n"

    assert [line for line, _, _ in read_lines(io.BytesIO(data), keep_blank=True)] == [1, 2, 3, 4]


def test_a_file_of_blank_lines_gives_no_batch() -> None:
    """It gives no batch for an input of blank lines only."""
    assert _batches(b"\n\n  \n") == []


def test_an_over_long_line_is_kept_whole_in_the_spool_and_reading_goes_on() -> None:
    """It flags a line over the bound with its first bytes, keeps all of it aside, and reads the next line."""
    long_line = b"x" * 5000 + b"\n"
    data = b"first\n" + long_line + b"last\n"
    spool = Spool()

    (batch,) = read_line_batches(io.BytesIO(data), max_lines=10, max_bytes=1 << 20, max_line_bytes=2000, spool=spool)

    assert [(number, text) for number, text, _ in batch.lines] == [
        (1, b"first\n"),
        (2, long_line[:TOO_LONG_PREFIX]),
        (3, b"last\n"),
    ]
    long = batch.lines[1][2]
    assert long is not None
    out = io.BytesIO()
    long.write_to(out)
    assert out.getvalue() == long_line
    assert batch.end_offset == len(data)
    spool.close()


def test_a_region_is_read_again_from_its_offsets() -> None:
    """It reads back exactly one earlier batch from its start line and offsets."""
    data = b"".join(b'{"n":%d}\n' % n for n in range(10))
    batches = list(read_line_batches(io.BytesIO(data), max_lines=3, max_bytes=1 << 20))
    third = batches[2]

    handle = io.BytesIO(data)
    handle.seek(third.start_offset)
    again = list(
        read_line_batches(
            handle,
            max_lines=1000,
            max_bytes=1 << 20,
            start_line=third.start_line,
            start_offset=third.start_offset,
            end_offset=third.end_offset,
        )
    )

    assert [b.lines for b in again] == [third.lines]


def test_a_truncated_gzip_input_gives_its_lines_then_says_where_it_broke() -> None:
    """It yields the lines read before a .gz input breaks off, then raises naming the next line."""
    whole = gzip.compress(b"".join(b"line %d\n" % n for n in range(2000)))
    broken = gzip.GzipFile(fileobj=io.BytesIO(whole[: len(whole) // 2]))
    batches = read_line_batches(broken, max_lines=100_000, max_bytes=1 << 20)  # type: ignore[arg-type]
    seen = [number for number, _, _ in next(batches).lines]

    with pytest.raises(UnreadableInputError) as caught:
        next(batches)

    assert len(seen) > 100
    assert seen == list(range(1, len(seen) + 1))
    assert caught.value.line == len(seen) + 1
    assert "ends early" in caught.value.message


@given(
    st.lists(st.sampled_from([b"", b" ", b"{}", b"abc", b"\xef\xbb\xbfx", b"y" * 40]), max_size=30),
    st.integers(1, 5),
    st.integers(1, 100),
)
def test_batches_hold_the_same_lines_as_reading_one_by_one(lines: list[bytes], max_lines: int, max_bytes: int) -> None:
    """Whatever the bounds, the batches together are the input's lines, in order, each once."""
    data = b"\n".join(lines)
    one_by_one = [(number, text) for number, text, _ in read_lines(io.BytesIO(data), max_bytes=32)]

    batched = [
        (number, text)
        for batch in read_line_batches(io.BytesIO(data), max_lines=max_lines, max_bytes=max_bytes, max_line_bytes=32)
        for number, text, _ in batch.lines
    ]

    assert batched == one_by_one


@pytest.mark.parametrize("max_lines", [1, 2, 7])
def test_consecutive_batches_cover_the_file_without_gaps(max_lines: int) -> None:
    """Each batch starts where the previous one ended; only blank lines follow the last one."""
    data = b"".join(b"line %d\n" % n for n in range(20)) + b"\n\n"

    batches = list(read_line_batches(io.BytesIO(data), max_lines=max_lines, max_bytes=1 << 20))

    assert batches[0].start_offset == 0
    assert all(a.end_offset == b.start_offset for a, b in itertools.pairwise(batches))
    assert data[batches[-1].end_offset :].strip() == b""


def test_the_reject_file_holds_the_lines_as_they_were_and_the_reasons_beside_them(tmp_path: Path) -> None:
    """It writes each rejected line byte for byte (a header first), ends the last one, and one reason a line."""
    report = IngestReport(source="in.csv")
    problems: list[Problem] = []
    log = RejectLog(report, tmp_path / "r.csv", problems.append, reasons_path=tmp_path / "r.reasons.jsonl")
    log.preamble = b"id,name\r\n"

    log.reject(2, "bad one", b'c1,"Caf\xe9\r\n')
    log.reject(7, "from elsewhere", "c7,Zoë", source="crm")
    log.reject(9, "last line", b"c9,x")
    log.close()

    assert (tmp_path / "r.csv").read_bytes() == b'id,name\r\nc1,"Caf\xe9\r\nc7,Zo\xc3\xab\nc9,x\n'
    reasons = [orjson.loads(line) for line in (tmp_path / "r.reasons.jsonl").read_bytes().splitlines()]
    assert reasons == [
        {"line": 2, "reason": "bad one"},
        {"line": 7, "reason": "from elsewhere", "source": "crm"},
        {"line": 9, "reason": "last line"},
    ]
    assert [str(p) for p in problems] == ["in.csv:2: bad one", "crm:7: from elsewhere", "in.csv:9: last line"]
    assert (report.rejected, report.rejects_path, report.reasons_path) == (
        3,
        tmp_path / "r.csv",
        tmp_path / "r.reasons.jsonl",
    )


def test_no_reject_no_file(tmp_path: Path) -> None:
    """It creates neither file when nothing is rejected, even after an input-level problem."""
    report = IngestReport(source="in.csv")
    log = RejectLog(report, tmp_path / "r.csv", reasons_path=tmp_path / "r.reasons.jsonl")

    log.problem(1, "unknown column 'x'")
    log.close()

    assert list(tmp_path.iterdir()) == []
    assert (report.problem_count, report.rejected, report.rejects_path) == (1, 0, None)
