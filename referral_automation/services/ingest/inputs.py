"""Inputs as people have them: a file, a gzip-compressed file, or standard input (``-``).

``open_input`` gives the bytes to read, decompressed when the input starts with gzip's magic
bytes (whatever its name says), and the means to read a stretch of them again: the event ingest
re-reads an earlier batch to name the line an ``event_id`` first appeared on. A file is simply
opened again; standard input, which cannot be, is copied into a temporary file as it is read
(only when the caller asks for re-reading).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from referral_automation.errors import InputError, Problem

#: What names standard input on the command line, and in problems.
STDIN = "-"
STDIN_NAME = "<stdin>"
#: Read buffer of inputs.
READ_BUFFER = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
#: What reading a damaged or truncated compressed input raises.
READ_ERRORS = (OSError, EOFError, zlib.error)


class UnreadableInputError(Exception):
    """The input could not be read past some point (damaged compression, an I/O error)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(eq=False)
class Input:
    """An opened input. ``handle`` gives its (decompressed) bytes; ``size`` is what it has on disk
    (None for standard input), ``position`` how much of that was read, for progress."""

    name: str
    handle: IO[bytes]
    size: int | None = None
    compressed: bool = False
    path: Path | None = None
    _source: IO[bytes] | None = None
    _copy: IO[bytes] | None = None
    _closers: list[IO[bytes]] = field(default_factory=list)

    @property
    def suffix(self) -> str:
        """The format's extension of the name (``.csv`` of ``customers.csv.gz``), '' for stdin."""
        if self.path is None:
            return ""
        name = self.path.name[:-3] if self.path.name.lower().endswith(".gz") else self.path.name
        return Path(name).suffix.lower()

    def position(self) -> int:
        """Bytes of the input (as stored: compressed if it is) read so far."""
        source = self._source or self.handle
        try:
            return source.tell()
        except (OSError, ValueError):
            return 0

    def read_again(self, start: int) -> IO[bytes]:
        """A new handle on the (decompressed) bytes from ``start`` on, which must have been read
        already; the caller closes it. Reading it leaves ``handle`` where it was."""
        if self._copy is not None:
            return _buffered(_PositionalReader(self._copy.fileno(), start))
        assert self.path is not None
        if self.compressed:
            handle = cast(IO[bytes], gzip.GzipFile(filename=self.path, mode="rb"))  # closes its file
        else:
            handle = _open_file(self.path)
        handle.seek(start)
        return handle

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()
        self._closers.clear()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_input(
    path: Path | str,
    *,
    stdin: IO[bytes] | None = None,
    rereadable: bool = False,
    not_into: tuple[Path | None, ...] = (),
) -> Input:
    """Open ``path`` (``-``: standard input, or ``stdin`` if given) for reading.

    ``InputError`` if it cannot be opened, or if it is one of the files ``not_into`` (the reject
    files the ingest will write). ``rereadable`` keeps a copy of standard input for ``read_again``.
    """
    if str(path) == STDIN:
        return _open_stdin(stdin if stdin is not None else sys.stdin.buffer, rereadable=rereadable)
    path = Path(path)
    for target in not_into:
        if target is not None and _same_file(path, target):
            raise InputError([Problem(str(path), None, "the reject file cannot be the input file")])
    try:
        raw = _open_file(path)
    except OSError as exc:
        raise InputError([Problem(str(path), None, f"cannot open: {exc.strerror or exc}")]) from exc
    try:
        size = os.fstat(raw.fileno()).st_size
        compressed = _is_gzip(raw, str(path))
    except BaseException:
        raw.close()
        raise
    if not compressed:
        return Input(str(path), raw, size=size, path=path, _closers=[raw])
    reader = _gunzip(raw)
    return Input(str(path), reader, size=size, compressed=True, path=path, _source=raw, _closers=[raw, reader])


def _open_stdin(source: IO[bytes], *, rereadable: bool) -> Input:
    buffered = source if hasattr(source, "peek") else _buffered(source)
    compressed = _is_gzip(buffered, STDIN_NAME)
    stream: IO[bytes] = _gunzip(buffered) if compressed else buffered
    closers: list[IO[bytes]] = [stream] if compressed else []
    copy = None
    if rereadable:
        copy = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the input)
        stream = _buffered(_Copying(stream, copy))
        closers += [copy, stream]
    return Input(STDIN_NAME, stream, compressed=compressed, _source=buffered, _copy=copy, _closers=closers)


def _open_file(path: Path) -> IO[bytes]:
    return path.open("rb", buffering=READ_BUFFER)


def _gunzip(stream: IO[bytes]) -> IO[bytes]:
    """``stream`` decompressed. Not wrapped in a further buffer: one filled from it would lose the
    lines before a damaged spot, as filling it raises before returning anything."""
    return cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))


def _buffered(stream: Any) -> IO[bytes]:
    """``stream`` read through a buffer of ``READ_BUFFER`` (what ``readline`` and ``peek`` need)."""
    return cast(IO[bytes], io.BufferedReader(stream, buffer_size=READ_BUFFER))


def _is_gzip(handle: IO[bytes], name: str) -> bool:
    """Whether ``handle`` starts with gzip's magic bytes (looked at without consuming them)."""
    try:
        return handle.peek(2)[:2] == GZIP_MAGIC  # type: ignore[attr-defined, no-any-return]
    except OSError as exc:
        raise InputError([Problem(name, None, f"cannot read: {exc.strerror or exc}")]) from exc


class _Copying(io.RawIOBase):
    """A stream that writes every chunk it reads into ``copy`` as well (standard input, kept)."""

    def __init__(self, stream: Any, copy: IO[bytes]) -> None:
        self.stream = stream
        self.copy = copy.fileno()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.stream.read1(len(buffer))  # what is there, so a pipe's lines flow as they come
        view = memoryview(data)
        while view:
            view = view[os.write(self.copy, view) :]
        buffer[: len(data)] = data
        return len(data)


class _PositionalReader(io.RawIOBase):
    """Reads a file descriptor from its own position (``pread``), whatever the descriptor's offset."""

    def __init__(self, fd: int, position: int) -> None:
        self.fd = fd
        self.position = position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = os.pread(self.fd, len(buffer), self.position)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def read_error_message(error: BaseException) -> str:
    """What went wrong reading an input, in a user's words."""
    if isinstance(error, EOFError):
        return "the compressed data ends early (a truncated .gz file?)"
    if isinstance(error, zlib.error | gzip.BadGzipFile):
        return f"the compressed data is damaged ({error})"
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    return str(error)


def rejects_path_for(input: Input, suffix: str, *, folder: Path | None = None) -> Path:
    """Where the rejected lines of ``input`` go by default: ``<FILE>.rejects<suffix>`` beside the
    file (``.gz`` dropped, as the reject file is not compressed), or ``stdin.rejects<suffix>`` in
    ``folder`` (default: the working directory) for standard input."""
    if input.path is None:
        return (folder or Path.cwd()) / f"stdin.rejects{suffix}"
    name = input.path.name[:-3] if input.path.name.lower().endswith(".gz") else input.path.name
    return input.path.with_name(f"{name}.rejects{suffix}")


def reasons_path_for(rejects_path: Path) -> Path:
    """Where the reasons of the rejects go: ``X.rejects.jsonl`` → ``X.rejects.reasons.jsonl``."""
    return rejects_path.with_name(rejects_path.stem + ".reasons.jsonl")
