"""Send throughput: render + outbox + database for N due referral requests on SQLite.

    python benchmarks/send.py [--requests 100000] [--batch-size 1000] [--workers 2] [--profile out.prof]
    python benchmarks/send.py --outbox-threads 4       # the outbox writing from four threads

Inserts N due requests directly (customers, moments, requests; no events), then runs the send
service to the end with the shipped templates and the outbox sender, and prints emails, seconds,
emails per second, CPU time per email and peak memory. The target is 5,000 emails a second.
With ``--workers N``, N processes claim batches side by side, as several flow runs would (the
leases keep them apart); SQLite still admits one writer at a time.

The clock starts when every worker is ready (imports done, templates compiled), as it would be
in a long-running flow worker: starting a Python process here costs ~3 s of CPU, which is not a
cost of sending. CPU time per email counts each worker's own CPU from that moment; the start-up
is printed on its own line.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from referral_automation.flows.runtime import run_batches  # noqa: E402

from referral_automation.config import load_config  # noqa: E402
from referral_automation.db.migrate import upgrade_to_head  # noqa: E402
from referral_automation.db.models import Customer, Message, Moment, ReferralRequest  # noqa: E402
from referral_automation.db.session import get_engine, session_factory  # noqa: E402
from referral_automation.domain import identity  # noqa: E402
from referral_automation.domain.delivery import DeliveryOptions, Job  # noqa: E402
from referral_automation.email.message import OutgoingEmail, SendOutcome, SendResult  # noqa: E402
from referral_automation.email.senders.outbox import OutboxSender, render_eml  # noqa: E402
from referral_automation.services.sending.claims import lease_first_asks  # noqa: E402
from referral_automation.services.sending.composer import TemplateComposer  # noqa: E402
from referral_automation.services.sending.first_asks import send_batch, send_due  # noqa: E402
from referral_automation.settings import Settings  # noqa: E402

#: A Wednesday, 10:00 UTC: inside the send window in every zone used below.
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
#: Signs the unsubscribe links (the send flow reads REFERRAL_SECRET_KEY or the database's key).
BENCH_KEY = b"benchmark-signing-key-0123456789"
ZONES = ("UTC", "Europe/Berlin", "Europe/London", "Africa/Lagos")
CHUNK = 10_000


def seed(url: str, count: int, rng: random.Random) -> None:
    """``count`` customers, each with one requested moment and one due referral request."""
    factory = session_factory(url)
    variants, incentives = ("gratitude", "social_proof", "direct_ask"), ("give50_get50", "donation")
    for start in range(0, count, CHUNK):
        customers, moments, requests = [], [], []
        for n in range(start, min(start + CHUNK, count)):
            customer_id = f"c{n:07d}"
            moment = identity.moment_id(customer_id, "milestone", f"bench-{n}")
            customers.append(
                {
                    "customer_id": customer_id, "email": f"{customer_id}@example.com", "first_name": f"Name{n}",
                    "last_name": "Bench", "company": f"Company {n % 997}", "plan": "team",
                    "lifetime_value": Decimal(1000 + n % 5000), "first_purchase_at": NOW - timedelta(days=400),
                    "timezone": ZONES[n % len(ZONES)], "locale": "de" if n % 5 == 0 else "en",
                    "marketing_opt_in": True, "created_at": NOW, "updated_at": NOW,
                }
            )  # fmt: skip
            moments.append(
                {
                    "id": moment, "customer_id": customer_id, "rule_id": "milestone", "source_key": f"bench-{n}",
                    "event_seq": None, "occurred_at": NOW - timedelta(hours=2), "detected_at": NOW,
                    "priority": 10, "campaign": "customer_referral", "outcome": "requested",
                }
            )  # fmt: skip
            requests.append(
                {
                    "id": identity.request_id(moment), "customer_id": customer_id, "moment_id": moment,
                    "campaign": "customer_referral", "variant": rng.choice(variants),
                    "incentive": rng.choice(incentives), "code": identity.new_referral_code(),
                    "unsubscribe_token": f"u{n:011d}{rng.getrandbits(40):x}", "status": "scheduled",
                    "scheduled_for": NOW - timedelta(minutes=n % 60), "created_at": NOW, "updated_at": NOW,
                }
            )  # fmt: skip
        with factory() as session, session.begin():
            session.execute(insert(Customer), customers)
            session.execute(insert(Moment), moments)
            session.execute(insert(ReferralRequest), requests)


_READY: Any = None  # a worker process's barrier: every worker ready, then the clock starts


def _worker_init(ready: Any) -> None:
    global _READY
    _READY = ready


def send_all(
    url: str, outbox: str, worker: str, batch_size: int, profile: str | None = None, threads: int = 1
) -> tuple[int, float, float]:
    """One worker: the send path to the end, as the send flow runs it (each worker in its own process
    when there are several).

    Returns (emails sent, CPU seconds of the send, CPU seconds of the start-up before it).
    """
    settings = Settings(REFERRAL_TEMPLATES_DIR=ROOT / "templates" / "email", REFERRAL_OUTBOX_DIR=Path(outbox))
    config = load_config(ROOT / "config")
    composer = TemplateComposer.from_settings(settings, config, signing_key=BENCH_KEY)
    factory = session_factory(url)
    if _READY is not None:
        _READY.wait(timeout=300)
    started = time.process_time()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    sender = OutboxSender(settings.outbox_dir, clock=lambda: NOW, threads=threads)
    options = DeliveryOptions(batch_size=batch_size, worker=worker)
    # As a flow runs them: the worker runtime's batch loop, with its heap policy around each batch.
    report, _ = run_batches(
        lambda: send_batch(factory, config=config, sender=sender, composer=composer, now=NOW, options=options),
        label="send",
    )
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    return report.sent, time.process_time() - started, started


class NullSender:
    """Accepts everything and writes nothing: the database's share of a send."""

    name = "null"
    idempotent = True

    def send(self, email: OutgoingEmail) -> SendResult:
        return SendResult(self.name, email.message_id)

    def send_many(self, emails: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        return [self.send(email) for email in emails]


def plain_composer(job: Job) -> OutgoingEmail:
    """A fixed small message (no templates): isolates the database's share."""
    return OutgoingEmail(
        message_id=job.message_id, referral_request_id=job.request_id, sequence_step=job.step,
        campaign=job.campaign, variant=job.variant, incentive=job.incentive, to_email=job.customer.email,
        to_name=job.customer.first_name, from_email="referrals@example.com", from_name="Acme",
        reply_to_email=None, reply_to_name=None, subject="Hi", html="<p>Hi</p>", text="Hi",
    )  # fmt: skip


def breakdown(count: int, batch_size: int, outbox_dir: str | None = None) -> list[tuple[str, float]]:
    """CPU µs per email of each stage on its own: templates, .eml text, file write, database."""
    workdir = Path(tempfile.mkdtemp(prefix="referral-send-breakdown-"))
    outbox = Path(outbox_dir or workdir) / "breakdown-outbox"
    config = load_config(ROOT / "config")
    factories = []
    for name in ("database", "jobs"):
        url = f"sqlite:///{workdir / name}.db"
        upgrade_to_head(url)
        seed(url, count, random.Random(11))
        factories.append(session_factory(url))
    options = DeliveryOptions(batch_size=batch_size, worker="breakdown")
    gc.collect()  # each stage starts without the garbage of the one before (it would pay for its collection)
    started = time.process_time()
    send_due(factories[0], config=config, sender=NullSender(), composer=plain_composer, now=NOW, options=options)
    database = (time.process_time() - started) / count
    with factories[1]() as session, session.begin():
        jobs = lease_first_asks(session, config=config, now=NOW, options=DeliveryOptions(batch_size=count)).build_jobs()
    settings = Settings(REFERRAL_TEMPLATES_DIR=ROOT / "templates" / "email")
    composer = TemplateComposer.from_settings(settings, config, signing_key=BENCH_KEY)
    gc.collect()
    started = time.process_time()
    emails = [composer(job) for job in jobs.jobs]
    compose = (time.process_time() - started) / len(emails)
    gc.collect()
    started = time.process_time()
    for email in emails:
        render_eml(email, date=NOW)
    eml = (time.process_time() - started) / len(emails)
    gc.collect()
    started = time.process_time()
    OutboxSender(outbox, clock=lambda: NOW, threads=1).send_many(emails)
    write = (time.process_time() - started) / len(emails) - eml
    shutil.rmtree(workdir)
    shutil.rmtree(outbox, ignore_errors=True)
    return [
        ("templates (compose_email)", compose * 1e6),
        (".eml text (render_eml)", eml * 1e6),
        ("file write (the outbox sender)", write * 1e6),
        ("database (claim, rows, record)", database * 1e6),
    ]


def run(args: argparse.Namespace) -> None:
    console = Console(width=120)
    workdir = Path(tempfile.mkdtemp(prefix="referral-send-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade_to_head(url)
    started = time.perf_counter()
    seed(url, args.requests, random.Random(7))
    console.print(f"seeded {args.requests:,} due requests in {time.perf_counter() - started:.1f} s ({workdir})")
    get_engine(url).dispose()  # worker processes open their own connections
    outbox = Path(args.outbox_dir or workdir) / "outbox"
    if outbox.exists():
        shutil.rmtree(outbox)

    if args.workers == 1:
        started = time.perf_counter()
        sent, cpu_seconds, startup = send_all(
            url, str(outbox), "bench-0", args.batch_size, args.profile, args.outbox_threads
        )
        seconds = time.perf_counter() - started
    else:
        context = multiprocessing.get_context("spawn")
        ready = context.Barrier(args.workers + 1)
        with ProcessPoolExecutor(args.workers, mp_context=context, initializer=_worker_init, initargs=(ready,)) as pool:
            futures = [
                pool.submit(send_all, url, str(outbox), f"bench-{n}", args.batch_size, None, args.outbox_threads)
                for n in range(args.workers)
            ]
            ready.wait(timeout=300)
            started = time.perf_counter()
            results = [future.result() for future in futures]
            seconds = time.perf_counter() - started
        sent = sum(result[0] for result in results)
        cpu_seconds = sum(result[1] for result in results)
        startup = max(result[2] for result in results)
    factory = session_factory(url)
    with factory() as session:
        recorded = session.execute(select(func.count()).select_from(Message).where(Message.status == "sent")).scalar()
    files = sum(1 for _ in outbox.glob("*.eml"))
    peak_mib = (
        max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        / 1024
    )

    table = Table(title=f"Send: render + outbox + SQLite ({args.workers} worker(s), batch {args.batch_size})")
    for column in (
        "emails",
        ".eml files",
        "messages sent",
        "seconds",
        "emails/s",
        "CPU µs/email",
        "peak MiB",
        "target",
    ):
        table.add_column(column, justify="right")
    rate = sent / seconds if seconds else 0.0
    table.add_row(
        f"{sent:,}", f"{files:,}", f"{recorded:,}", f"{seconds:.1f}", f"{rate:,.0f}",
        f"{cpu_seconds / max(sent, 1) * 1e6:,.0f}", f"{peak_mib:,.0f}", "≥ 5,000 ✓" if rate >= 5000 else "≥ 5,000 ✗",
    )  # fmt: skip
    console.print(table)
    console.print(f"outbox: {outbox}; machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    if args.workers > 1:
        console.print(f"start-up before the clock (imports, templates): {startup:.1f} s CPU per worker")
    if args.keep:
        console.print(f"kept {workdir} and {outbox}")
    else:
        shutil.rmtree(workdir)
        shutil.rmtree(outbox, ignore_errors=True)
    if args.breakdown:
        stages = Table(title=f"Where the CPU goes (µs per email, {args.breakdown:,} emails, one process)")
        stages.add_column("stage")
        stages.add_column("CPU µs/email", justify="right")
        parts = breakdown(args.breakdown, args.batch_size, args.outbox_dir)
        for stage, micros in parts:
            stages.add_row(stage, f"{micros:,.0f}")
        total = sum(micros for _, micros in parts)
        stages.add_row("total", f"{total:,.0f}", end_section=True)
        stages.add_row("ceiling on one core", f"{1e6 / total:,.0f} emails/s")
        console.print(stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes claiming batches side by side")
    parser.add_argument("--profile", help="write a cProfile of the send to this file")
    parser.add_argument("--breakdown", type=int, default=0, metavar="N", help="also time each stage alone on N emails")
    parser.add_argument("--outbox-threads", type=int, default=1, help="the outbox's writer threads (1: none started)")
    parser.add_argument("--keep", action="store_true", help="keep the database and outbox directory")
    parser.add_argument(
        "--outbox-dir", help="parent of the outbox (default: beside the database; /dev/shm leaves the disk out)"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
