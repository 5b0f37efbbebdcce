"""The web app under load on loopback: signed Event Webhook posts and ``/r/{code}`` redirects.

For each database, a fresh schema with ``--requests`` sent first asks, then ``referral-automation web``
(uvicorn, one worker unless ``--workers``) in its own process, and 8 clients on keep-alive
connections (a small asyncio client: a general-purpose one costs more CPU than the server):

1. **webhook**: ``--posts`` signed posts of ``--events`` events each (SendGrid's ECDSA signature,
   checked by the server), every event new; then the same posts again (SendGrid's retries: all
   duplicates). The database must hold exactly one response per event.
2. **redirects**: ``--redirects`` requests of ``/r/{code}`` over the seeded codes (the first of
   each code records a response as well as the click).

The table shows throughput, latency per request (p50, p99), and the server's CPU time per request
(its processes' user + system time over the stage), which does not depend on what else the
machine is running. Targets (issue 14, on a 2-core machine): webhook ≥ 5,000 events/s and
redirects ≥ 2,000/s, p99 under 50 ms.

    python benchmarks/web.py                       # SQLite and PostgreSQL (REFERRAL_BENCH_POSTGRES_URL)
    python benchmarks/web.py --database sqlite --redirects 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from referral_automation.db.migrate import upgrade_to_head  # noqa: E402
from referral_automation.db.models import LinkClick, Response  # noqa: E402
from referral_automation.db.session import get_engine, session_factory  # noqa: E402
from tests.support.databases import schema_url  # noqa: E402
from tests.support.web import EventKey  # noqa: E402
from tests.support.webload import (  # noqa: E402
    Call,
    Server,
    event_posts,
    percentile,
    run_clients,
    seed_requests,
    served,
)

CLIENTS = 8
POSTGRES_URL = os.environ.get("REFERRAL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGETS = {"webhook": 5000.0, "redirects": 2000.0}
#: The latency target is the redirect's: a person waits for it. A webhook post waits behind the
#: other clients' posts for the one SQLite writer, and SendGrid waits for nobody.
P99_TARGET_MS = {"redirects": 50.0}


@dataclass(frozen=True)
class Stage:
    database: str
    name: str
    requests: int
    units: int
    unit: str
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    statuses: frozenset[int]

    @property
    def rate(self) -> float:
        return self.units / self.seconds


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file in a temporary directory, or a PostgreSQL schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-web-") as directory:
            url = f"sqlite:///{directory}/web.db"
            upgrade_to_head(url)
            yield url
        return
    name = f"bench_web_{uuid.uuid4().hex[:8]}"
    admin = get_engine(schema_url(POSTGRES_URL, "public"))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    url = schema_url(POSTGRES_URL, name)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


def measure(kind: str, name: str, server: Server, work: Sequence[Sequence[Call]], units: int, unit: str) -> Stage:
    cpu_before = server.cpu_seconds()
    answers, seconds = run_clients(server, work)
    cpu = server.cpu_seconds() - cpu_before
    latencies = [answer.seconds for answer in answers]
    return Stage(
        database=kind,
        name=name,
        requests=len(answers),
        units=units,
        unit=unit,
        seconds=seconds,
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        cpu_ms_per_request=cpu * 1000 / len(answers),
        statuses=frozenset(answer.status for answer in answers),
    )


def split(calls: Sequence[Call]) -> list[list[Call]]:
    return [list(calls[client::CLIENTS]) for client in range(CLIENTS)]


def run(kind: str, args: argparse.Namespace) -> list[Stage]:
    key = EventKey()
    with database(kind) as url:
        pairs = seed_requests(url, args.requests)
        environment = {
            "REFERRAL_DATABASE_URL": url,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": key.public_key,
            "REFERRAL_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        }
        with served(environment, workers=args.workers) as server:
            stamp = str(int(time.time()))
            bodies = event_posts([p[0] for p in pairs], posts=args.posts, per_post=args.events, timestamp=int(stamp))
            posts = [Call("POST", "/webhooks/sendgrid/events", key.headers(body, stamp), body) for body in bodies]
            events = args.posts * args.events
            stages = [measure(kind, "webhook", server, split(posts), events, "events")]
            stages.append(measure(kind, "webhook (retried)", server, split(posts), events, "events"))
            links = [
                Call("GET", f"/r/{pairs[n % len(pairs)][1]}", {"User-Agent": "Mozilla/5.0 (bench)"})
                for n in range(args.redirects)
            ]
            stages.append(measure(kind, "redirects", server, split(links), args.redirects, "redirects"))
        check(url, events, args.redirects)
    return stages


def check(url: str, events: int, redirects: int) -> None:
    """Every event recorded once, every click kept: the figures count only work that was done."""
    with session_factory(url)() as session:
        stored, distinct = session.execute(
            select(func.count(), func.count(func.distinct(Response.external_id))).where(
                Response.external_id.like("load-%")
            )
        ).one()
        clicks = session.execute(select(func.count()).select_from(LinkClick)).scalar_one()
    if (stored, distinct, clicks) != (events, events, redirects):
        raise SystemExit(f"lost or duplicated: {stored} stored, {distinct} distinct of {events}; {clicks} clicks")


def report(stages: list[Stage], console: Console) -> None:
    table = Table(title=f"Web app on loopback ({CLIENTS} clients, {os.cpu_count()} cores)")
    for column in ("database", "stage", "requests", "throughput", "p50 ms", "p99 ms", "server CPU ms/req", "target"):
        table.add_column(column, justify="left" if column in ("database", "stage", "target") else "right")
    for stage in stages:
        target, p99_target = TARGETS.get(stage.name), P99_TARGET_MS.get(stage.name)
        verdict = ""
        if target is not None:
            passed = stage.rate >= target and stage.p99_ms < (p99_target or float("inf"))
            passed = passed and stage.statuses <= {200, 302}
            verdict = f"{'PASS' if passed else 'FAIL'} (≥ {target:,.0f}/s"
            verdict += f", p99 < {p99_target:.0f} ms)" if p99_target else ")"
        table.add_row(
            stage.database,
            stage.name,
            f"{stage.requests:,}",
            f"{stage.rate:,.0f} {stage.unit}/s",
            f"{stage.p50_ms:.1f}",
            f"{stage.p99_ms:.1f}",
            f"{stage.cpu_ms_per_request:.2f}",
            verdict,
        )
    console.print(table)
    load = os.getloadavg()
    console.print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work shares the cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="events per post")
    parser.add_argument("--redirects", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000, help="seeded requests (codes)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    stages = [stage for kind in kinds for stage in run(kind, args)]
    report(stages, Console(width=140))


if __name__ == "__main__":
    main()
