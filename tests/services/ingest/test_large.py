"""A 100 MB events file: ingested in batches with flat memory and exact counts."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from referral_automation.services.ingest.events import MAX_BATCH_BYTES
from tests.support.ingest import Workspace

CUSTOMERS = 300
#: A batch holds at most MAX_BATCH_BYTES of lines, and the ingest about six times that at its peak
#: (the batch being checked, the one being written, its pickle for the writer process).
PEAK_BOUND = 6 * MAX_BATCH_BYTES
#: Twice the bound: a load-everything ingest would hold all of it (and far more as objects).
TARGET_BYTES = 2 * PEAK_BOUND
PAD = "x" * 3800


def _kind(index: int) -> str:
    """What line ``index`` is: fine, without a time zone, or repeating an id from 1000 lines before."""
    if index % 997 == 500:
        return "no zone"
    if index % 1499 == 700 and index >= 1000 and _kind(index - 1000) == "fine":
        return "repeat"  # several batches back, so the ingest finds it through the database
    return "fine"


def _line(index: int) -> str:
    customer = f"c{index % CUSTOMERS}"
    kind = _kind(index)
    if kind == "no zone":
        return f'{{"event_id":"e{index}","customer_id":"{customer}","type":"purchase","occurred_at":"2026-03-01T10:00:00","properties":{{"amount":1}}}}'  # noqa: E501
    if kind == "repeat":
        return f'{{"event_id":"e{index - 1000}","customer_id":"{customer}","type":"page_viewed","occurred_at":"2026-03-01T10:00:00Z"}}'  # noqa: E501
    if index % 4 == 0:
        return f'{{"event_id":"e{index}","customer_id":"{customer}","type":"nps_submitted","occurred_at":"2026-03-01T10:00:00+01:00","properties":{{"score":{index % 11},"comment":"{PAD}"}}}}'  # noqa: E501
    return f'{{"event_id":"e{index}","customer_id":"{customer}","type":"feature_used","occurred_at":"2026-03-01T10:00:00Z","properties":{{"feature":"reports","note":"{PAD}"}}}}'  # noqa: E501


def _write_file(path: Path) -> tuple[int, int]:
    """Write about TARGET_BYTES; return (lines, bad lines)."""
    lines = bad = size = 0
    with path.open("w", encoding="utf-8") as handle:
        while size < TARGET_BYTES:
            indexes = range(lines, lines + 10_000)
            text = "\n".join(_line(index) for index in indexes) + "\n"
            bad += sum(1 for index in indexes if _kind(index) != "fine")
            handle.write(text)
            size += len(text)
            lines += 10_000
    return lines, bad


@pytest.mark.slow
def test_a_big_file_is_ingested_with_flat_memory(large_ws: Workspace, tmp_path: Path) -> None:
    """It ingests 100 MB with a memory peak far below the file's size, and every count right."""
    path = tmp_path / "events.jsonl"
    lines, bad = _write_file(path)
    assert path.stat().st_size >= TARGET_BYTES

    tracemalloc.start()
    try:
        report = large_ws.ingest(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.1f} MiB"
    assert (report.read, report.rejected) == (lines, bad)
    assert (report.inserted, report.duplicates) == (lines - bad, 0)
    assert report.problem_count == report.rejected
    assert sum(1 for _ in (report.rejects_path or path).open()) == report.rejected
    assert any("(first at line" in p.message for p in large_ws.problems)
