"""CSV records with the bytes they span: a quoted field over lines, and a stray quote that must not swallow rows."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from referral_automation.services.ingest.csv_records import CsvRecord, CsvRecords
from referral_automation.services.ingest.readers import read_lines


def records(data: bytes, *, fields: int | None = None, max_lines: int = 100) -> list[CsvRecord]:
    found = CsvRecords(read_lines(io.BytesIO(data), keep_blank=True), max_lines=max_lines)
    found.expected_fields = fields
    return list(found)


def test_each_record_keeps_its_bytes_and_first_line() -> None:
    """It gives each row's fields, the line it starts on and its exact bytes, quoted line breaks included."""
    data = b'a,b\r\n\r\n"x\r\ny",2\r\nz,3'

    assert records(data) == [
        CsvRecord(1, b"a,b\r\n", ["a", "b"]),
        CsvRecord(3, b'"x\r\ny",2\r\n', ["x\r\ny", "2"]),
        CsvRecord(5, b"z,3", ["z", "3"]),
    ]


def test_a_stray_quote_costs_its_own_line_only() -> None:
    """It refuses the line that opens a quote no line closes, and reads every following line as a row."""
    lines = [b"c%d,ada%d@example.com\n" % (n, n) for n in range(300)]
    lines[100] = b'c100,"First99\n'

    found = records(b"".join(lines), fields=2)

    assert [r.line for r in found] == list(range(1, 301))
    bad = found[100]
    assert (bad.raw, bad.fields) == (b'c100,"First99\n', None)
    assert bad.error == "a quoted field is not closed within 100 lines or 1048576 bytes (a stray quote?)"
    assert all(r.fields is not None for r in found if r is not bad)


def test_a_stray_quote_closed_by_a_later_quote_is_split_off_too() -> None:
    """It refuses only the first line of a record over lines whose field count is wrong, then re-reads the rest."""
    data = b'c1,"Ann\nc2,Bob\nc3,",Acme\nc4,Dee\n'

    found = records(data, fields=2)

    assert [(r.line, r.fields) for r in found] == [(1, None), (2, ["c2", "Bob"]), (3, None), (4, ["c4", "Dee"])]
    assert found[0].error == "expected 2 fields, got 3 (lines 1-3: a stray quote?)"
    assert [r.raw for r in found] == data.splitlines(keepends=True)


def test_a_quote_left_open_at_the_end_is_its_line_alone() -> None:
    """It refuses a last line whose quote never closes, keeping the lines read after it."""
    found = records(b'c1,x\nc2,"y\nc3,z\n', fields=2)

    assert [(r.line, r.fields) for r in found] == [(1, ["c1", "x"]), (2, None), (3, ["c3", "z"])]
    assert found[1].error == "a quoted field is not closed before the end of the input (a stray quote?)"


def test_malformed_quoting_is_an_error_not_a_guess() -> None:
    """It refuses text after a closing quote, which the csv module would otherwise glue on."""
    [bad, good] = records(b'c1,"a"b\nc2,c\n', fields=2)

    assert (bad.fields, bad.error) == (None, "not a valid CSV row: ',' expected after '\"'")
    assert good.fields == ["c2", "c"]


@given(
    st.lists(
        st.lists(st.text(st.sampled_from('ab ,"\r\n\x00é'), max_size=6), min_size=3, max_size=3),
        min_size=1,
        max_size=12,
    )
)
def test_well_formed_csv_reads_as_the_csv_module_reads_it(rows: list[list[str]]) -> None:
    """Whatever the fields hold, a file the csv module wrote gives back its rows, with the bytes they span."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    data = text.getvalue().encode()

    found = records(data, fields=3)

    assert [r.fields for r in found] == rows
    assert b"".join(r.raw for r in found if isinstance(r.raw, bytes)) == data
