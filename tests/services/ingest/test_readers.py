"""Reading input files in batches of lines: boundaries, offsets, blank and over-long lines."""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_automation.services.ingest.readers import TOO_LONG_PREFIX, read_line_batches, read_lines


def _batches(data: bytes, **limits: int) -> list[tuple[int, int, int, list[tuple[int, bytes, bool]]]]:
    options = {"max_lines": 1000, "max_bytes": 1 << 20} | limits
    return [
        (b.start_line, b.start_offset, b.end_offset, b.lines) for b in read_line_batches(io.BytesIO(data), **options)
    ]


def test_a_batch_ends_at_max_lines_and_says_which_bytes_it_spans() -> None:
    """It cuts after two lines; each batch's offsets delimit exactly its lines in the file."""
    data = b'{"a":1}\n{"a":2}\n{"a":3}\n'

    assert _batches(data, max_lines=2) == [
        (1, 0, 16, [(1, b'{"a":1}', False), (2, b'{"a":2}', False)]),
        (3, 16, 24, [(3, b'{"a":3}', False)]),
    ]


def test_a_batch_ends_once_its_lines_hold_max_bytes() -> None:
    """It starts a new batch once the lines read reach the byte bound."""
    data = b"aaaa\nbbbb\ncccc\n"

    assert [lines for *_, lines in _batches(data, max_bytes=8)] == [
        [(1, b"aaaa", False), (2, b"bbbb", False)],
        [(3, b"cccc", False)],
    ]


def test_blank_lines_keep_their_numbers_and_a_byte_order_mark_is_dropped() -> None:
    """It skips blank and whitespace-only lines but counts them, strips CR, drops a leading BOM."""
    data = b"\xef\xbb\xbfone\r\n\n   \ntwo"

    assert _batches(data) == [(1, 0, len(data), [(1, b"one", False), (4, b"two", False)])]


def test_a_file_of_blank_lines_gives_no_batch() -> None:
    assert _batches(b"\n\n  \n") == []


def test_an_over_long_line_is_flagged_with_its_prefix_and_reading_goes_on() -> None:
    """It flags a line over the bound, keeps only its first bytes, and reads the next line."""
    long_line = b"x" * 5000
    data = b"first\n" + long_line + b"\nlast\n"

    (batch,) = _batches(data, max_line_bytes=2000)

    assert batch[3] == [(1, b"first", False), (2, long_line[:TOO_LONG_PREFIX], True), (3, b"last", False)]
    assert batch[2] == len(data)


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


@given(
    st.lists(st.sampled_from([b"", b" ", b"{}", b"abc", b"\xef\xbb\xbfx", b"y" * 40]), max_size=30),
    st.integers(1, 5),
    st.integers(1, 100),
)
def test_batches_hold_the_same_lines_as_reading_one_by_one(lines: list[bytes], max_lines: int, max_bytes: int) -> None:
    """Whatever the bounds, the batches together are the file's lines, in order, each once."""
    data = b"\n".join(lines)
    one_by_one = [
        (number, text, too_long) for number, text, _end, too_long in read_lines(io.BytesIO(data), max_bytes=32)
    ]

    batched = [
        line
        for batch in read_line_batches(io.BytesIO(data), max_lines=max_lines, max_bytes=max_bytes, max_line_bytes=32)
        for line in batch.lines
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
