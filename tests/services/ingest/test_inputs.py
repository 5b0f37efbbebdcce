"""Opening inputs: files, gzip by its magic bytes, standard input kept for reading again, where rejects go."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from referral_automation.errors import InputError
from referral_automation.services.ingest.inputs import open_input, reasons_path_for, rejects_path_for

DATA = b"".join(b"line %d\n" % n for n in range(5000))


@pytest.mark.parametrize(
    ("name", "compress"),
    [("events.jsonl", False), ("events.jsonl.gz", True), ("events.jsonl", True), ("events.jsonl.gz", False)],
    ids=["plain", "gzip", "gzip under a plain name", "plain under a .gz name"],
)
def test_a_file_is_read_as_its_bytes_say(tmp_path: Path, name: str, compress: bool) -> None:
    """It decompresses what starts with gzip's magic bytes, and nothing else, whatever the name."""
    path = tmp_path / name
    path.write_bytes(gzip.compress(DATA) if compress else DATA)

    with open_input(path) as source:
        assert (source.handle.read(), source.compressed, source.suffix) == (DATA, compress, ".jsonl")
        assert source.position() == path.stat().st_size


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_standard_input_can_be_read_again_from_any_offset_read(compress: bool) -> None:
    """It copies standard input as it reads it, so an earlier stretch can be read again without moving the reader."""
    stdin = io.BytesIO(gzip.compress(DATA) if compress else DATA)

    with open_input("-", stdin=stdin, rereadable=True) as source:
        first = source.handle.readline() + source.handle.readline()
        rest = source.handle.read()
        with source.read_again(len(first)) as again:
            assert again.read(8) == b"line 2\nl"
        assert (source.name, source.size, first + rest) == ("<stdin>", None, DATA)


def test_a_file_can_be_read_again_from_an_offset(tmp_path: Path) -> None:
    """It opens a compressed file again and seeks into its decompressed bytes."""
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(DATA))

    with open_input(path) as source, source.read_again(DATA.index(b"line 4000")) as again:
        assert again.readline() == b"line 4000\n"


def test_an_input_that_cannot_be_opened_is_one_problem(tmp_path: Path) -> None:
    """It names the file and why, and refuses to write rejects over the input."""
    with pytest.raises(InputError, match="cannot open: No such file or directory"):
        open_input(tmp_path / "missing.jsonl")
    path = tmp_path / "events.jsonl"
    path.write_bytes(DATA)
    with pytest.raises(InputError, match="the reject file cannot be the input file"):
        open_input(path, not_into=(None, tmp_path / "." / "events.jsonl"))


def test_reject_files_are_named_after_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It puts rejects beside the input in its format, uncompressed, and the reasons beside them."""
    monkeypatch.chdir(tmp_path)
    for name, suffix, expected in [
        ("customers.csv", ".csv", "customers.csv.rejects.csv"),
        ("events.jsonl.gz", ".jsonl", "events.jsonl.rejects.jsonl"),
    ]:
        (tmp_path / name).write_bytes(b"x\n")
        with open_input(tmp_path / name) as source:
            assert rejects_path_for(source, suffix) == tmp_path / expected
    with open_input("-", stdin=io.BytesIO(b"")) as source:
        assert rejects_path_for(source, ".jsonl") == tmp_path / "stdin.rejects.jsonl"
    assert reasons_path_for(tmp_path / "events.jsonl.rejects.jsonl") == tmp_path / "events.jsonl.rejects.reasons.jsonl"
    assert reasons_path_for(tmp_path / "bad") == tmp_path / "bad.reasons.jsonl"
