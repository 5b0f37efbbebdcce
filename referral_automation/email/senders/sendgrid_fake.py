"""A local stand-in for SendGrid's Mail Send endpoint, for tests, benchmarks and the demo.

It listens on 127.0.0.1 (a free port), answers ``POST /v3/mail/send`` the way SendGrid does and
counts what it *accepted* per (referral request, sequence step), so a test can say "every message
was accepted exactly once". Each request gets a behaviour: the next one queued for any message, else the next one
queued for its message id (``custom_args.message_id``), else ``default``.

Behaviours:

- ``accept``: 202 with ``X-Message-Id`` (in sandbox mode 200 without it, and nothing accepted);
- ``rate_limit``: 429 with ``X-RateLimit-Reset``; ``unavailable``: 503; ``unauthorized``: 401;
- ``bad_request``: 400 with SendGrid's error JSON;
- ``cut_before_body``: reset the connection without reading the body (nothing accepted);
- ``cut_after_accept``: read and accept the body, then reset without answering (accepted, and
  the client cannot know);
- ``slow``: accept, then answer after ``slow_seconds`` (the client may time out first);
- ``stall``: read the body, accept nothing, reset after ``slow_seconds`` (a client timing out
  earlier cannot tell this from ``slow``: the send is ambiguous, and was in fact lost).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

Behaviour = Literal[
    "accept",
    "rate_limit",
    "unavailable",
    "bad_request",
    "unauthorized",
    "cut_before_body",
    "cut_after_accept",
    "slow",
    "stall",
]
MessageKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the fake saw it."""

    behaviour: Behaviour
    key: MessageKey | None
    body: dict[str, Any] | None
    authorization: str | None


class FakeSendGrid:
    """``with FakeSendGrid() as fake: ... fake.url ... fake.accepted``."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        default: Behaviour = "accept",
        reset_after: float = 1.0,
        slow_seconds: float = 2.0,
    ) -> None:
        self.latency = latency
        self.default: Behaviour = default
        self.reset_after = reset_after
        self.slow_seconds = slow_seconds
        self.accepted: Counter[MessageKey] = Counter()
        self.received: list[Received] = []
        self._script: deque[Behaviour] = deque()
        self._by_message: dict[str, deque[Behaviour]] = {}
        self._lock = threading.Lock()
        self._sequence = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ set-up
    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def plan(self, *behaviours: Behaviour, message_id: str | None = None) -> None:
        """Queue behaviours for the next requests (of one message, or of any)."""
        with self._lock:
            queue = self._script if message_id is None else self._by_message.setdefault(message_id, deque())
            queue.extend(behaviours)

    def start(self) -> FakeSendGrid:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        server.request_queue_size = 512  # the default backlog (5) refuses a busy pool's connections
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ what happened
    @property
    def accepted_total(self) -> int:
        with self._lock:
            return sum(self.accepted.values())

    def duplicates(self) -> dict[MessageKey, int]:
        """Messages accepted more than once (must stay empty)."""
        with self._lock:
            return {key: count for key, count in self.accepted.items() if count > 1}

    # ------------------------------------------------------------------ used by the handler
    def _next_planned(self) -> Behaviour | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _next_for(self, message_id: str | None) -> Behaviour:
        with self._lock:
            queue = self._by_message.get(message_id or "")
            return queue.popleft() if queue else self.default

    def _record(self, received: Received, *, accepted: bool) -> str:
        with self._lock:
            self.received.append(received)
            self._sequence += 1
            if accepted and received.key is not None:
                self.accepted[received.key] += 1
            return f"fake{self._sequence:010d}"


def message_key(body: dict[str, Any] | None) -> tuple[MessageKey | None, str | None]:
    """(request id, step) and message id from the first personalization's ``custom_args``."""
    try:
        args = body["personalizations"][0]["custom_args"]  # type: ignore[index]
        return (str(args["referral_request_id"]), int(args["sequence_step"])), args.get("message_id")
    except (KeyError, IndexError, TypeError, ValueError):
        return None, None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSendGrid
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the records instead
        return

    def do_POST(self) -> None:
        fake = self.fake
        if self.path.rstrip("/") != "/v3/mail/send":
            self._answer(404, {"errors": [{"message": "not found"}]})
            return
        if fake.latency:
            time.sleep(fake.latency)
        authorization = self.headers.get("Authorization")
        behaviour = fake._next_planned()
        if behaviour == "cut_before_body":
            fake._record(Received(behaviour, None, None, authorization), accepted=False)
            self._reset()
            return
        body = self._read_json()
        key, message_id = message_key(body)
        problem = _problem_with(body, authorization)
        if problem is not None:
            fake._record(Received("bad_request", key, body, authorization), accepted=False)
            self._answer(401 if "Authorization" in problem else 400, {"errors": [{"message": problem}]})
            return
        behaviour = behaviour or fake._next_for(message_id)
        if behaviour == "cut_before_body":  # planned for this message: its body was read, never accepted
            fake._record(Received(behaviour, key, body, authorization), accepted=False)
            self._reset()
            return
        self._behave(behaviour, Received(behaviour, key, body, authorization))

    def _behave(self, behaviour: Behaviour, received: Received) -> None:
        fake = self.fake
        sandbox = bool(((received.body or {}).get("mail_settings") or {}).get("sandbox_mode", {}).get("enable"))
        accepted = behaviour in ("accept", "cut_after_accept", "slow") and not sandbox
        provider_id = fake._record(received, accepted=accepted)
        if behaviour == "accept" and sandbox:  # validated, answered 200, never delivered
            self._answer(200, None)
        elif behaviour == "accept":
            self._answer(202, None, {"X-Message-Id": provider_id})
        elif behaviour == "cut_after_accept":
            self._reset()
        elif behaviour == "stall":
            time.sleep(fake.slow_seconds)
            self._reset()
        elif behaviour == "slow":
            time.sleep(fake.slow_seconds)
            self._answer(202, None, {"X-Message-Id": provider_id})
        elif behaviour == "rate_limit":
            reset = int(time.time() + fake.reset_after)
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
            self._answer(429, {"errors": [{"field": None, "message": "too many requests"}]}, headers)
        elif behaviour == "unavailable":
            self._answer(503, {"errors": [{"message": "service unavailable"}]})
        elif behaviour == "unauthorized":
            self._answer(401, {"errors": [{"field": None, "message": "The provided authorization grant is invalid"}]})
        else:
            error = {"field": "from.email", "message": "The from email does not contain a valid address."}
            self._answer(400, {"errors": [error]})

    # ------------------------------------------------------------------ plumbing
    def _read_json(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _answer(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if document is None else json.dumps(document).encode()
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (a timeout): what it missed is the point of the test
            self.close_connection = True

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0): the client sees a reset, never an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def _problem_with(body: dict[str, Any] | None, authorization: str | None) -> str | None:
    """The checks SendGrid makes that matter to our tests (the Prism contract test checks the rest)."""
    if not authorization or not authorization.startswith("Bearer "):
        return "Authorization header missing"
    if body is None:
        return "Bad Request: the body is not a JSON object"
    if not body.get("personalizations") or not (body.get("from") or {}).get("email"):
        return "personalizations and from.email are required"
    types = [part.get("type") for part in body.get("content", [])]
    if not types or types[0] != "text/plain":
        return "content: text/plain must come first"
    return None
