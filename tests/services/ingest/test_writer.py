"""Writing checked events: the batch store's customer cache, and the writer process's failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from referral_automation.services.ingest import writer as event_writer
from referral_automation.services.ingest.store import StorageRow, storage_rows
from referral_automation.services.ingest.writer import BatchStore, ProcessBatchWriter, WriterProcessError
from tests.support import ROOT
from tests.support.factories import add_customer, sessions

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def _rows(*pairs: tuple[str, str]) -> list[StorageRow]:
    checked = [(event_id, customer, "purchase", "2026-03-01 09:30:00.000000", "{}") for event_id, customer in pairs]
    return storage_rows(checked, NOW, postgres=False)


def test_a_customer_cached_before_the_cache_was_cleared_is_still_known(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """It judges a batch's customers before clearing a full cache, so none is wrongly unknown."""
    monkeypatch.setattr(event_writer, "CUSTOMER_CACHE_SIZE", 2)
    factory = sessions(sqlite_url)
    for customer in ("c1", "c2", "c3", "c4"):
        add_customer(factory, customer)
    store = BatchStore(factory)

    first = store.write(_rows(("e1", "c1"), ("e2", "c2"), ("e3", "c3")))
    second = store.write(_rows(("e4", "c1"), ("e5", "c4"), ("e6", "ghost")))

    assert (first.inserted, first.unknown_customers) == (3, frozenset())
    assert (second.inserted, second.unknown_customers) == (2, frozenset({"ghost"}))


def test_a_failed_batch_raises_its_own_error_and_stops_the_next(sqlite_url: str) -> None:
    """It re-raises the database's error from the writer process and refuses the batch after it."""
    factory = sessions(sqlite_url)
    add_customer(factory, "c1")
    with factory() as session, session.begin():
        session.execute(text("DROP TABLE journey_events"))
    writer = ProcessBatchWriter(sqlite_url)
    try:
        failed = writer.submit(_rows(("e1", "c1")))
        after = writer.submit(_rows(("e2", "c1")))

        with pytest.raises(OperationalError, match="journey_events"):
            failed.result()
        with pytest.raises(WriterProcessError, match="the batch before it failed"):
            after.result()
    finally:
        writer.close()
    assert writer.process.returncode == 0


def test_a_writer_process_that_dies_is_an_error_not_a_hang(sqlite_url: str) -> None:
    """It reports that the writer process stopped, with its exit code."""
    writer = ProcessBatchWriter(sqlite_url)
    writer.process.kill()
    writer.process.wait()
    try:
        with pytest.raises(WriterProcessError, match="stopped"):
            writer.submit(_rows(("e1", "c1"))).result()
    finally:
        writer.close()


def test_the_database_url_is_not_on_the_writer_process_command_line() -> None:
    """It hands the URL over its stdin, where ``ps`` cannot show the password."""
    writer = ProcessBatchWriter("postgresql+psycopg://ops:s3cret@127.0.0.1:9/referral")
    try:
        assert "s3cret" not in repr(writer.process.args)
    finally:
        writer.close()


def test_a_script_without_a_main_guard_runs_once(sqlite_url: str, tmp_path: Path) -> None:
    """It never runs the caller's script again in the writer process (as multiprocessing's spawn would)."""
    factory = sessions(sqlite_url)
    add_customer(factory, "c1")
    events = tmp_path / "events.jsonl"
    line = {"customer_id": "c1", "type": "page_viewed", "occurred_at": "2026-03-01T09:30:00Z"}
    events.write_bytes(b"".join(orjson.dumps({"event_id": f"e{n}", **line}) + b"\n" for n in range(10)))
    runs = tmp_path / "runs.txt"
    script = tmp_path / "load.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from datetime import UTC, datetime
            from pathlib import Path
            from referral_automation.config import load_config
            from referral_automation.db.session import session_factory
            from referral_automation.services.ingest import ingest_events_file

            with open({str(runs)!r}, "a") as log:
                log.write("run\\n")
            report = ingest_events_file(
                session_factory({sqlite_url!r}), load_config(Path({str(ROOT / "config")!r})), Path({str(events)!r}),
                now=datetime(2026, 3, 4, tzinfo=UTC), batch_size=3, writer_process=True,
            )
            print(report.inserted)
            """
        )
    )

    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env={**os.environ}, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "10"
    assert runs.read_text() == "run\n"


def test_ctrl_c_leaves_the_writer_process_to_finish_its_batch(sqlite_url: str) -> None:
    """It ignores SIGINT (the parent decides when to stop), so a batch is never cut in the middle."""
    add_customer(sessions(sqlite_url), "c1")
    writer = ProcessBatchWriter(sqlite_url)
    try:
        assert writer.submit(_rows(("e1", "c1"))).result().inserted == 1  # the process is up
        os.kill(writer.process.pid, signal.SIGINT)
        assert writer.submit(_rows(("e2", "c1"))).result().inserted == 1
    finally:
        writer.close()
    assert writer.process.returncode == 0


def test_closing_with_an_unread_answer_does_not_wait_for_the_timeout(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """It drains an answer nobody will read (after an error), so the writer process stops at once."""
    monkeypatch.setattr(event_writer, "STOP_TIMEOUT", 30.0)
    add_customer(sessions(sqlite_url), "c1")
    rows = _rows(*((f"e{n}", "c1") for n in range(20_000)))
    writer = ProcessBatchWriter(sqlite_url)
    assert writer.submit(rows).result().inserted == 20_000
    writer.submit(rows)  # all known: the answer lists 20,000 stored seqs, more than a pipe holds

    started = time.monotonic()
    writer.close()

    assert time.monotonic() - started < 20
    assert writer.process.returncode == 0


def test_without_a_python_to_start_the_batches_are_written_here(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, sqlite_url: str
) -> None:
    """It falls back to writing in this process, with a warning, when no writer process can start."""

    def no_process(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("no python here")

    monkeypatch.setattr(subprocess, "Popen", no_process)

    writer = event_writer.batch_writer(sessions(sqlite_url), process=True)

    assert isinstance(writer, event_writer.InlineBatchWriter)
    assert "no writer process (no python here)" in caplog.text


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:events?mode=memory&cache=shared&uri=true"]
)
def test_an_in_memory_database_is_always_written_in_this_process(url: str) -> None:
    """It never hands an in-memory SQLite database to a writer process, which would write into a memory of its own."""
    writer = event_writer.batch_writer(sessionmaker(create_engine(url)), process=True)

    assert isinstance(writer, event_writer.InlineBatchWriter)


def test_a_database_file_gets_a_writer_process(sqlite_url: str) -> None:
    """It starts the writer process for a SQLite file (and any server database) when asked."""
    writer = event_writer.batch_writer(sessions(sqlite_url), process=True)
    try:
        assert isinstance(writer, ProcessBatchWriter)
    finally:
        writer.close()
