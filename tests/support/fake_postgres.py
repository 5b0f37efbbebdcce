"""A PostgreSQL server that refuses every connection with the error of our choosing.

The test server trusts every role, so it never asks for a password and cannot refuse a wrong
one. This one speaks just enough of the protocol for libpq (and so psycopg) to report the refusal
exactly as a real server's: it declines SSL and GSS encryption, reads the start-up message and
answers with an ``ErrorResponse`` (severity, SQLSTATE, message), then hangs up.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

#: The codes of the encryption requests libpq may send before its start-up message.
SSL_REQUEST = 80877103
GSS_REQUEST = 80877104


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _refuse(conn: socket.socket, sqlstate: str, message: str) -> None:
    while True:
        (length,) = struct.unpack("!i", _read_exactly(conn, 4))
        body = _read_exactly(conn, length - 4)
        (code,) = struct.unpack("!i", body[:4])
        if code in (SSL_REQUEST, GSS_REQUEST):
            conn.sendall(b"N")
            continue
        break  # the start-up message
    fields = b"".join(kind + text.encode() + b"\0" for kind, text in
                      ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message)))  # fmt: skip
    payload = fields + b"\0"
    conn.sendall(b"E" + struct.pack("!i", len(payload) + 4) + payload)


@contextmanager
def refusing_server(sqlstate: str, message: str) -> Iterator[int]:
    """A server on 127.0.0.1 that refuses every connection; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, suppress(OSError):  # a client that went away (ConnectionError is one)
                _refuse(conn, sqlstate, message)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
