"""The ingest gives the same answer whether its batches are written in this process or by a writer process."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete

from referral_automation.db.models import JourneyEvent
from referral_automation.services.ingest import events as ingest_events
from tests.support.ingest import Workspace, event

#: A file that exercises every outcome, over batches of three lines: new, bad, unknown customer,
#: repeated in the file (in and across batches), and already stored before the run.
LINES: list[str | dict[str, Any]] = [
    event("old-1"),
    event("e1"),
    "{",
    event("e2", customer_id="ghost"),
    event("e3", customer_id="c2", occurred_at="2026-03-01T10:30:00+01:00"),
    event("e1", customer_id="c2"),
    "",
    event("old-2", customer_id="c2"),
    event("e4", type="nps_submitted", properties={"score": 10}),
    event("e5", occurred_at="2026-03-01T09:30:00"),
    event("e3"),
    event("e6", customer_id="c2", type="page_viewed", properties={"path": "/"}),
    event("e6"),
]


def _run(ws: Workspace, *, writer_process: bool) -> tuple[dict[str, Any], list[str], list[tuple[Any, ...]], str]:
    """Ingest ``LINES`` into an events table holding only old-1 and old-2: what came of it."""
    with ws.factory() as session, session.begin():
        session.execute(delete(JourneyEvent))
    ws.ingest(ws.write("before.jsonl", [event("old-1"), event("old-2", customer_id="c2")]))
    ws.problems.clear()
    path = ws.write("events.jsonl", LINES)
    report = ws.ingest(path, batch_size=3, writer_process=writer_process)
    stored = [(e.event_id, e.customer_id, e.type, e.occurred_at, e.properties, e.ingested_at) for e in ws.stored()]
    rejects = (path.parent / "events.jsonl.rejects.jsonl").read_text()
    return report.as_dict(), [str(problem) for problem in ws.problems], stored, rejects


def test_a_writer_process_stores_and_reports_exactly_what_this_process_would(ws: Workspace) -> None:
    """It inserts the same rows in the same order and reports the same rejects, line for line."""
    inline = _run(ws, writer_process=False)
    process = _run(ws, writer_process=True)

    assert process == inline
    assert (inline[0]["inserted"], inline[0]["already_known"], inline[0]["rejected"]) == (4, 2, 6)
    assert [problem.split(":", 2)[1] for problem in inline[1]] == ["3", "4", "6", "10", "11", "13"]


def test_big_files_get_a_writer_process_and_small_ones_do_not(monkeypatch: pytest.MonkeyPatch, ws: Workspace) -> None:
    """It starts the writer process only for files of WRITER_PROCESS_MIN_BYTES or more."""
    started: list[str] = []
    real = ingest_events.batch_writer

    def spy(session_factory: Any, *, process: bool) -> Any:
        started.append("process" if process else "inline")
        return real(session_factory, process=process)

    monkeypatch.setattr(ingest_events, "batch_writer", spy)
    path = ws.write("events.jsonl", [event(f"e{n}") for n in range(20)])
    monkeypatch.setattr(ingest_events, "WRITER_PROCESS_MIN_BYTES", path.stat().st_size + 1)
    ws.ingest(path)
    monkeypatch.setattr(ingest_events, "WRITER_PROCESS_MIN_BYTES", path.stat().st_size)
    report = ws.ingest(path)

    assert started == ["inline", "process"]
    assert (report.read, report.duplicates) == (20, 20)
