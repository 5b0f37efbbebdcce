"""Where an ingest's batches of checked events are written: in this process, or in a writer process.

Reading, parsing and checking a line and writing it to the database each cost about as much CPU
as the other. In one Python process they take turns, and a writer *thread* gains nothing: the
``sqlite3`` module takes the GIL back for every row of an ``executemany``. So a big file is
written by a child process (``ProcessBatchWriter``) while this one checks the next batch: one
batch in flight, results read back in order, the database work unchanged (``BatchStore``).
``InlineBatchWriter`` does the same work in this process, for small inputs, where starting a
process (about a second of CPU) would cost more than it saves.

Either way a batch is one transaction: the customers it names are looked up (through a bounded
cache of known ids), rows of unknown customers are left out, the others inserted, and the
``seq`` range and already-stored events reported back, so the ingest can tell "already known"
from "repeated in this input" exactly as before.
"""

from __future__ import annotations

import logging
import marshal
import os
import pickle
import signal
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.session import session_factory as make_session_factory
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.ingest.store import EventTransaction, StorageRow, event_transaction

logger = logging.getLogger(__name__)

#: Known customer ids kept between batches (cleared when full, so memory stays bounded).
CUSTOMER_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class BatchWrite:
    """What writing one batch did.

    ``seq_before`` is ``max(seq)`` when the batch began (for the first batch of a run: the run's
    start), ``seq_last`` after it. Rows of ``unknown_customers`` were left out; ``stored`` has
    the ``seq`` of each row that was not inserted because its ``event_id`` was already stored
    (empty when every row went in).
    """

    seq_before: int
    seq_last: int
    inserted: int
    unknown_customers: frozenset[str] = frozenset()
    stored: dict[str, int] = field(default_factory=dict)


class BatchStore:
    """Writes batches into one database, one transaction each, remembering which customers exist."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        self.known_customers: set[str] = set()

    def write(self, rows: Sequence[StorageRow]) -> BatchWrite:
        """Insert ``rows`` (``storage_rows``, distinct event ids) in one transaction."""
        with event_transaction(self.session_factory) as tx:
            seq_before = tx.max_seq()
            unknown = self._unknown_customers(tx, {row[1] for row in rows})
            keep = [row for row in rows if row[1] not in unknown] if unknown else rows
            inserted = tx.insert(keep)
            stored = tx.stored_seqs([row[0] for row in keep]) if inserted < len(keep) else {}
            seq_last = tx.max_seq() if inserted else seq_before
        return BatchWrite(seq_before, seq_last, inserted, frozenset(unknown), stored)

    def _unknown_customers(self, tx: EventTransaction, customer_ids: set[str]) -> set[str]:
        """The ids among ``customer_ids`` that name no stored customer: one query for those not cached.

        Judged before the cache may be cleared, so a customer known from an earlier batch stays known.
        """
        cache = self.known_customers
        wanted = customer_ids - cache
        found = tx.known_customers(sorted(wanted)) if wanted else set()
        if len(cache) + len(found) > CUSTOMER_CACHE_SIZE:
            cache.clear()
        cache.update(found)
        return wanted - found


class PendingWrite(Protocol):
    """A batch handed to a writer; ``result`` waits for it to be written (or raises what failed)."""

    def result(self) -> BatchWrite: ...


class BatchWriter(Protocol):
    """Takes batches in order, one in flight: ``submit`` waits until the batch before is written."""

    #: Whether the database is PostgreSQL (``storage_rows`` builds its rows accordingly).
    postgres: bool

    def submit(self, rows: list[StorageRow]) -> PendingWrite: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Done:
    written: BatchWrite | None = None
    error: Exception | None = None

    def result(self) -> BatchWrite:
        if self.error is not None:
            raise self.error
        assert self.written is not None
        return self.written


class InlineBatchWriter:
    """Writes each batch at once, in this process."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.store = BatchStore(session_factory)
        self.postgres = _engine(session_factory).dialect.name == "postgresql"

    def submit(self, rows: list[StorageRow]) -> PendingWrite:
        try:
            return _Done(self.store.write(rows))
        except Exception as error:
            return _Done(error=error)

    def close(self) -> None:
        return None


class WriterProcessError(ReferralAutomationError):
    """The writer process stopped or could not report what failed."""


class ProcessBatchWriter:
    """Writes batches in a child process (``python -m referral_automation.services.ingest.writer``).

    A plain child process rather than ``multiprocessing``: spawning through ``multiprocessing``
    runs the caller's main script again in the child, which an unguarded user script (or a
    notebook) would not survive. The child reads the database URL (never on its command line,
    where ``ps`` would show a password) and then batches from its stdin (``marshal``), and answers
    each with a ``BatchWrite`` or the exception it raised (``pickle``), in length-prefixed frames.
    It opens its own engine, so it has the same SQLite settings; it stops when its stdin closes.
    """

    def __init__(self, database_url: str, *, python: str = sys.executable) -> None:
        self.postgres = make_url(database_url).get_backend_name() == "postgresql"
        path = os.pathsep.join(entry for entry in sys.path if entry)
        self.process = subprocess.Popen(
            [python, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.requests, self.replies = self.process.stdin, self.process.stdout
        #: The batch sent last, until its answer is read.
        self.outstanding: _Reply | None = None
        send_bytes(self.requests, marshal.dumps(database_url))

    def submit(self, rows: list[StorageRow]) -> PendingWrite:
        """Send ``rows`` once the batch before them is written (encoded first, so the child waits less).

        Rows are all text, sent with ``marshal``: it writes a list of tuples of strings faster
        than ``pickle``, and both ends are the same interpreter, so its format never differs.
        """
        data = marshal.dumps(rows, _MARSHAL_VERSION)
        previous, self.outstanding = self.outstanding, None
        if previous is not None and previous.settle().error is not None:
            return _Done(error=WriterProcessError("not written: the batch before it failed"))
        try:
            send_bytes(self.requests, data)
        except BrokenPipeError:
            return _Done(error=self._stopped())
        self.outstanding = _Reply(self)
        return self.outstanding

    def receive(self) -> _Done:
        """The child's answer to the batch it was last sent."""
        try:
            kind, value = pickle.loads(receive_bytes(self.replies))
        except EOFError:
            return _Done(error=self._stopped())
        return _Done(error=value) if kind == "error" else _Done(value)

    def _stopped(self) -> WriterProcessError:
        return WriterProcessError(f"the event writer process stopped (exit code {self.process.wait()})")

    def close(self) -> None:
        """Let the child finish the batch it holds and stop; end it if it has not within ``STOP_TIMEOUT``.

        An answer nobody will read (the ingest failed, or was interrupted, with a batch in flight)
        is drained meanwhile, so the child never blocks writing it into a full pipe.
        """
        try:
            self.process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


class _Reply:
    """A batch the child was sent; its answer is read once, by ``result`` or by the next ``submit``."""

    def __init__(self, writer: ProcessBatchWriter) -> None:
        self.writer = writer
        self.answer: _Done | None = None

    def settle(self) -> _Done:
        if self.answer is None:
            self.answer = self.writer.receive()
            if self.writer.outstanding is self:
                self.writer.outstanding = None
        return self.answer

    def result(self) -> BatchWrite:
        return self.settle().result()


def batch_writer(session_factory: sessionmaker[Session], *, process: bool) -> BatchWriter:
    """A writer into ``session_factory``'s database: a child process's, or this process's own.

    An in-memory SQLite database exists only in this process, so it is always written here. Where
    no child process can be started (no Python executable to run, as in an embedded interpreter),
    the batches are written here too, a little slower, and a warning says so.
    """
    url = _engine(session_factory).url
    if process and not _in_memory(url):
        try:
            return ProcessBatchWriter(url.render_as_string(hide_password=False))
        except OSError as error:
            logger.warning("ingest: no writer process (%s); writing in this process", error)
    return InlineBatchWriter(session_factory)


def _in_memory(url: URL) -> bool:
    """Whether ``url`` names a SQLite database that lives in its process's memory."""
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"


def _engine(session_factory: sessionmaker[Session]) -> Engine:
    engine: Engine = session_factory.kw["bind"]
    return engine


def send_bytes(stream: IO[bytes], data: bytes) -> None:
    """One frame: its length, then its bytes."""
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def receive_bytes(stream: IO[bytes]) -> bytes:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (size,) = _LENGTH.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The writer process: a URL, then batches until ``requests`` ends; one reply per batch."""
    try:
        url = marshal.loads(receive_bytes(requests))
    except EOFError:
        return
    store = BatchStore(make_session_factory(url))
    while True:
        try:
            rows = marshal.loads(receive_bytes(requests))
        except EOFError:
            return
        try:
            reply: tuple[str, object] = ("ok", store.write(rows))
        except Exception as error:
            reply = ("error", _portable(error))
        send_bytes(replies, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _portable(error: Exception) -> Exception:
    """``error`` if it survives pickling, else a ``WriterProcessError`` carrying its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return WriterProcessError(f"{type(error).__name__}: {error}")
    return error


_LENGTH = struct.Struct("<Q")
#: marshal's format 2 writes each string in full; 3 and later keep a table of every object seen,
#: to write repeats as references, which cost more than it saved here, where the strings lie all
#: over the heap (benchmarks/HISTORY.md).
_MARSHAL_VERSION = 2
#: Seconds the writer process gets to finish its batch once told to stop.
STOP_TIMEOUT = 60.0


if __name__ == "__main__":
    # Through the package, so what is pickled names referral_automation's classes, not __main__'s.
    from referral_automation.services.ingest import writer as event_writer

    # Ctrl-C reaches the whole process group: the parent stops sending and closes the pipe, and
    # this process finishes the batch it holds (one transaction) instead of dying in the middle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed in this process may corrupt the replies
    event_writer.serve(sys.stdin.buffer, replies)
