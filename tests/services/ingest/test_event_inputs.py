"""Event files as people have them: standard input, gzip-compressed files (known by their bytes), cut-off ones."""

from __future__ import annotations

import gzip
import io

import orjson
import pytest

from referral_automation.services.ingest import events as ingest_events
from tests.support.ingest import Workspace, event, rejected_lines


def _jsonl(*lines: object) -> bytes:
    return b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines)


def test_standard_input_is_read_for_a_dash(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """It reads standard input for -, names it <stdin>, and writes stdin.rejects.jsonl in the working directory."""
    monkeypatch.chdir(ws.folder)
    data = _jsonl(event("e1"), b"{oops", event("e2", customer_id="c2"))

    report = ws.ingest("-", stdin=io.BytesIO(data))

    assert (report.source, report.read, report.inserted, report.rejected) == ("<stdin>", 3, 2, 1)
    assert [str(p).split(": ")[0] for p in ws.problems] == ["<stdin>:2"]
    assert report.rejects_path == ws.folder / "stdin.rejects.jsonl"
    assert rejected_lines(report) == [b"{oops\n"]
    assert ws.stored_ids() == ["e1", "e2"]


def test_a_repeat_across_batches_of_standard_input_names_its_first_line(ws: Workspace) -> None:
    """It finds the first line of an event_id repeated batches later in standard input, which cannot be read twice."""
    data = _jsonl(event("e1"), event("e2"), event("e3"), event("e1"))

    report = ws.ingest("-", stdin=io.BytesIO(data), batch_size=1, rejects_path=ws.folder / "r.jsonl")

    assert (report.inserted, report.rejected) == (3, 1)
    assert [p.message for p in ws.problems] == ["duplicate event_id 'e1' (first at line 1)"]


@pytest.mark.parametrize("name", ["events.jsonl.gz", "events.jsonl"], ids=["named .gz", "gzip under another name"])
def test_a_gzip_file_is_read_by_its_magic_bytes(ws: Workspace, name: str) -> None:
    """It decompresses a gzip file whatever its name, and writes its rejects uncompressed beside it."""
    path = ws.folder / name
    path.write_bytes(gzip.compress(_jsonl(event("e1"), event("e2", occurred_at="yesterday"), event("e3"))))

    report = ws.ingest(path)

    assert (report.read, report.inserted, report.rejected) == (3, 2, 1)
    assert report.rejects_path == ws.folder / "events.jsonl.rejects.jsonl"
    assert rejected_lines(report) == [orjson.dumps(event("e2", occurred_at="yesterday")) + b"\n"]
    assert ws.stored_ids() == ["e1", "e3"]


def test_a_repeat_across_batches_of_a_gzip_file_names_its_first_line(ws: Workspace) -> None:
    """It reads an earlier batch of a compressed file again to name where a repeated event_id first came."""
    path = ws.folder / "events.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(*(event(f"e{n}") for n in range(6)), event("e2"))))

    report = ws.ingest(path, batch_size=2)

    assert (report.inserted, report.rejected) == (6, 1)
    assert [str(p) for p in ws.problems] == [f"{path}:7: duplicate event_id 'e2' (first at line 3)"]


@pytest.mark.parametrize("writer_process", [False, True], ids=["inline writer", "writer process"])
def test_a_cut_off_gzip_file_keeps_what_came_before(ws: Workspace, writer_process: bool) -> None:
    """It ingests every whole line before a .gz file breaks off, then reports where it broke."""
    data = gzip.compress(_jsonl(*(event(f"e{n}", properties={"amount": n, "pad": "x" * 200}) for n in range(3000))))
    path = ws.folder / "events.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])

    report = ws.ingest(path, batch_size=500, writer_process=writer_process)

    stored = ws.stored_ids()
    assert len(stored) > 500
    assert stored == [f"e{n}" for n in range(len(stored))]
    *_, broken = ws.problems
    assert broken.message.endswith("(a truncated .gz file?); the lines before it were ingested")
    assert report.read == report.inserted + report.rejected
    assert report.rejected <= 1  # at most the last line, cut in the middle
    assert not report.ok


def test_the_writer_process_is_chosen_for_standard_input_of_more_than_one_batch(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It starts a writer process for standard input only once a first batch shows more is coming."""
    chosen: list[bool] = []
    make = ingest_events.batch_writer
    monkeypatch.setattr(
        ingest_events, "batch_writer", lambda f, *, process: chosen.append(process) or make(f, process=False)
    )
    rejects = ws.folder / "r.jsonl"

    ws.ingest("-", stdin=io.BytesIO(_jsonl(event("e1"))), batch_size=2, rejects_path=rejects)
    ws.ingest("-", stdin=io.BytesIO(_jsonl(*(event(f"e{n}") for n in range(5)))), batch_size=2, rejects_path=rejects)

    assert chosen == [False, True]
    assert not rejects.exists()
