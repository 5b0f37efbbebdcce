"""A real server on loopback and a small HTTP/1.1 client, for the web's load test and benchmark.

The server is ``referral-automation web`` itself, in a subprocess, so what is measured is what
operators run (uvicorn, the middleware, the threadpool, the database). The client is a few lines
of asyncio over keep-alive connections: a general-purpose client (httpx) costs more CPU per
request than the server does, and on a 2-core machine it would measure itself. Every connection
stays on 127.0.0.1 and every run is bounded in requests and time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The longest a run may take before the client gives up (the load test's bound).
DEADLINE_SECONDS = 600.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes used so far (its workers included)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            pid, parent = int(stat.parent.name), int(fields[1])
            if pid == self.pid or parent == self.pid:
                total += int(fields[11]) + int(fields[12])
        return total / ticks


@contextmanager
def served(environment: dict[str, str], *, workers: int = 1) -> Iterator[Server]:
    """``referral-automation web`` on a free loopback port with ``environment`` added."""
    port = free_port()
    env = {**os.environ, **environment, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "referral_automation", "web", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_healthy(process, port)
        yield Server("127.0.0.1", port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_healthy(process: subprocess.Popen[str], port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"the server exited with {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not become healthy in time")


@dataclass(frozen=True, slots=True)
class Call:
    """One request to make: method, path, headers and body."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    seconds: float
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection (answers must carry Content-Length, as uvicorn's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host)

    async def send(self, call: Call) -> Answer:
        started = time.perf_counter()
        lines = [f"{call.method} {call.path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(call.body)}"]
        lines += [f"{name}: {value}" for name, value in call.headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + call.body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return Answer(status, time.perf_counter() - started, body)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _client(host: str, port: int, calls: Sequence[Call]) -> list[Answer]:
    connection = await Connection.open(host, port)
    try:
        return [await connection.send(call) for call in calls]
    finally:
        await connection.close()


def run_clients(server: Server, work: Sequence[Sequence[Call]]) -> tuple[list[Answer], float]:
    """Each sequence of calls on its own connection, all at once; (answers, wall seconds)."""

    async def main() -> list[list[Answer]]:
        clients = [_client(server.host, server.port, calls) for calls in work]
        return list(await asyncio.wait_for(asyncio.gather(*clients), DEADLINE_SECONDS))

    started = time.perf_counter()
    answers = asyncio.run(main())
    return [answer for batch in answers for answer in batch], time.perf_counter() - started


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0-1) quantile by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def event_posts(request_ids: Sequence[str], *, posts: int, per_post: int, timestamp: int) -> list[bytes]:
    """``posts`` Event Webhook bodies of ``per_post`` events each, every ``sg_event_id`` unique, spread
    over ``request_ids`` (processed, delivered and open events, as most of a day's traffic is)."""
    import orjson

    kinds = ("processed", "delivered", "open", "delivered", "open")
    bodies = []
    for post in range(posts):
        events = []
        for index in range(per_post):
            request_id = request_ids[(post * per_post + index) % len(request_ids)]
            events.append(
                {"sg_event_id": f"load-{post:05d}-{index:03d}", "event": kinds[index % len(kinds)],
                 "email": "customer@example.com", "timestamp": timestamp, "referral_request_id": request_id,
                 "sequence_step": "0", "sg_message_id": f"msg{post}.filter0001.{index}"}
            )  # fmt: skip
        bodies.append(orjson.dumps(events))
    return bodies


def seed_requests(database_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` customers with a sent first ask each, inserted in bulk; (request id, code) each."""
    from sqlalchemy import insert

    from referral_automation.db.models import Customer, Moment, ReferralRequest
    from referral_automation.db.session import session_factory

    rows = [_seed_rows(n) for n in range(count)]
    with session_factory(database_url)() as session, session.begin():
        for position, model in enumerate((Customer, Moment, ReferralRequest)):
            session.execute(insert(model), [row[position] for row in rows])
    return [(str(row[2]["id"]), str(row[2]["code"])) for row in rows]


def _seed_rows(n: int) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    """A customer, their moment and their sent request."""
    from datetime import UTC, datetime, timedelta

    from referral_automation.domain import identity

    now = datetime(2026, 3, 4, 10, tzinfo=UTC)
    customer_id = f"load-{n:06d}"
    moment = identity.moment_id(customer_id, "nps_promoter", f"load-event-{n}")
    customer = {
        "customer_id": customer_id, "email": f"{customer_id}@example.com", "first_name": "", "last_name": "",
        "company": "", "plan": "pro", "lifetime_value": 100, "first_purchase_at": now - timedelta(days=400),
        "timezone": "UTC", "locale": "en", "marketing_opt_in": True, "created_at": now, "updated_at": now,
    }  # fmt: skip
    moment_row = {
        "id": moment, "customer_id": customer_id, "rule_id": "nps_promoter", "source_key": f"load-event-{n}",
        "occurred_at": now, "detected_at": now, "priority": 30, "campaign": "customer_referral", "outcome": "requested",
    }  # fmt: skip
    request = {
        "id": identity.request_id(moment), "customer_id": customer_id, "moment_id": moment,
        "campaign": "customer_referral", "variant": "gratitude", "incentive": "give50_get50",
        "code": f"loadcode{n:06d}", "unsubscribe_token": f"unsub-{n:06d}", "status": "sent", "scheduled_for": now,
        "created_at": now, "updated_at": now, "sent_at": now, "next_followup_at": now + timedelta(days=3),
    }  # fmt: skip
    return customer, moment_row, request
