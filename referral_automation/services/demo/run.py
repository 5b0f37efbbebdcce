"""The demo: a sample workspace and two simulated weeks of the whole pipeline.

``run_demo`` writes seeded customers and six months of journey events into the workspace, ingests
them, detects moments, lets a demo success manager decide the pending approvals, then moves a
simulated clock from one due time to the next (each first ask at its window opening in the
customer's zone, each follow-up when due), running the send and follow-up steps there and
simulating how customers respond to every message sent. The steps themselves come in as a
``StepRunner``: the CLI runs the real Prefect flows; ``direct_runner`` calls the services.

The workspace is laid out like the defaults (``referral.db``, ``config/``, ``templates/email/``,
``outbox/``), so ``cd`` into it and every command works without options. Its database, outbox and
data are rebuilt on each run; ``config/`` and ``templates/`` are kept, so edits there show in the
next run.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, load_config
from referral_automation.db.migrate import upgrade_to_head
from referral_automation.db.models import Message, ReferralRequest
from referral_automation.db.session import get_engine, session_factory
from referral_automation.domain.statuses import AWAITING_SEND, MessageStatus, RequestStatus
from referral_automation.errors import ReferralAutomationError
from referral_automation.pipeline import DEFAULT_BATCH_SIZE, build_pipeline
from referral_automation.services.approvals import decide as approvals
from referral_automation.services.demo import data as demo_data
from referral_automation.services.ingest.readers import IngestReport
from referral_automation.services.responses.record import ResponseReport, record_responses
from referral_automation.settings import Settings

MARKER = ".referral-demo"
SUCCESS_MANAGER = "demo success manager"
#: How far the simulated clock runs: long enough for both follow-ups (+3 and +7 days) after a weekend.
SIMULATED_DAYS = 14
#: A bound on flow runs, whatever the data (each costs a little under Prefect).
MAX_RUNS = 80
SessionFactory = sessionmaker[Session]
#: Runs one pipeline step (``detect``, ``send``, ``follow-ups``) at a time; returns its counts.
StepRunner = Callable[[str, datetime], Mapping[str, Any]]


class DemoError(ReferralAutomationError):
    """The demo cannot use the workspace it was given."""


@dataclass(frozen=True, slots=True)
class DemoWorkspace:
    root: Path
    #: Another (empty) database to use instead of the workspace's ``referral.db``, PostgreSQL say.
    database: str | None = None

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.root / 'referral.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.root / "outbox"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def settings(self) -> Settings:
        """The workspace's settings (outbox backend, whatever the environment says)."""
        return Settings(
            REFERRAL_DATABASE_URL=self.database_url,
            REFERRAL_CONFIG_DIR=self.root / "config",
            REFERRAL_TEMPLATES_DIR=self.root / "templates" / "email",
            REFERRAL_EMAIL_BACKEND="outbox",
            REFERRAL_OUTBOX_DIR=self.outbox_dir,
        )


@dataclass(slots=True)
class StepRun:
    step: str
    at: datetime
    counts: Mapping[str, Any]


@dataclass(slots=True)
class DemoRun:
    """What the demo did, step by step (the CLI prints it with ``summarise``'s totals)."""

    workspace: DemoWorkspace
    started_at: datetime
    finished_at: datetime | None = None
    customers: IngestReport | None = None
    events: IngestReport | None = None
    approved: int = 0
    rejected: int = 0
    runs: list[StepRun] = field(default_factory=list)
    responses: ResponseReport = field(default_factory=ResponseReport)


# --------------------------------------------------------------------------- workspace
def find_checkout(start: Path | None = None) -> Path:
    """The directory holding the shipped ``config/`` and ``templates/email/`` to copy from."""
    package_root = Path(__file__).resolve().parents[3]
    for candidate in (package_root, start or Path.cwd()):
        if (candidate / "config" / "campaigns.yaml").is_file() and (candidate / "templates" / "email").is_dir():
            return candidate
    raise DemoError(
        "cannot find the shipped config/ and templates/email/ to copy into the demo workspace "
        "(run the demo from a checkout of the project)"
    )


def prepare_workspace(
    root: Path, *, source: Path, config_dir: Path | None = None, database_url: str | None = None
) -> DemoWorkspace:
    """Create (or reset) a demo workspace: copy config and templates once, fresh database and outbox.

    ``config_dir`` replaces the shipped config for a new workspace. ``database_url`` names another
    database instead of the workspace's SQLite file; it must hold no customers yet (it is never reset).
    """
    root = root.resolve()
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise DemoError(f"{root} is not empty and is no demo workspace (no {MARKER} file): choose another --workspace")
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("Created by `referral-automation demo`; rebuilt on each demo run.\n", encoding="utf-8")
    for part, origin in (("config", config_dir or source / "config"), ("templates", source / "templates")):
        if not (root / part).exists():
            shutil.copytree(origin, root / part)
    workspace = DemoWorkspace(root, database_url)
    if database_url is None:
        get_engine(workspace.database_url).dispose()
        for name in ("referral.db", "referral.db-wal", "referral.db-shm"):
            (root / name).unlink(missing_ok=True)
    for directory in (workspace.outbox_dir, workspace.data_dir):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
    upgrade_to_head(workspace.database_url)
    if database_url is not None:
        _require_empty(workspace.database_url)
    return workspace


def _require_empty(url: str) -> None:
    from referral_automation.db.models import Customer

    with session_factory(url)() as session:
        if session.execute(select(func.count()).select_from(Customer)).scalar():
            raise DemoError("the demo needs an empty database: this one already has customers")


# --------------------------------------------------------------------------- the run
def run_demo(
    workspace: DemoWorkspace,
    *,
    customers: int,
    seed: int,
    now: datetime,
    run_step: StepRunner,
    on_step: Callable[[StepRun], None] | None = None,
) -> DemoRun:
    """Ingest sample data, detect, approve, then send and follow up until the simulated weeks end."""
    settings = workspace.settings()
    config = load_config(settings.config_dir)
    factory = session_factory(workspace.database_url)
    demo = DemoRun(workspace, started_at=now)
    demo.customers, demo.events = ingest_sample(workspace, factory, config, customers=customers, seed=seed, now=now)

    def step(name: str, at: datetime) -> None:
        run = StepRun(name, at, run_step(name, at))
        demo.runs.append(run)
        if on_step is not None:
            on_step(run)

    step("detect", now)
    demo.approved, demo.rejected = decide_approvals(factory, config, seed=seed, now=now)
    simulated: set[str] = set()
    at = now
    while len(demo.runs) < MAX_RUNS:
        for name in _due_steps(factory, at):
            step(name, at)
        demo.responses.add(simulate_responses(factory, simulated, seed=seed, now=at))
        following = _next_due(factory, after=at)
        if following is None or following > now + timedelta(days=SIMULATED_DAYS):
            break
        at = following
    demo.finished_at = at
    return demo


def ingest_sample(
    workspace: DemoWorkspace, factory: SessionFactory, config: AppConfig, *, customers: int, seed: int, now: datetime
) -> tuple[IngestReport, IngestReport]:
    """Write the seeded customers (CSV) and events (JSONL) into ``data/`` and ingest both files."""
    from referral_automation.services.ingest import ingest_customers_file, ingest_events_file

    people = demo_data.customers(customers, seed=seed, now=now)
    customers_file = workspace.data_dir / "customers.csv"
    with customers_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(people[0].record))
        writer.writeheader()
        writer.writerows(person.record for person in people)
    events_file = workspace.data_dir / "events.jsonl"
    with events_file.open("w", encoding="utf-8") as handle:
        for event in demo_data.journey_events(people, seed=seed, now=now):
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    return (
        ingest_customers_file(factory, customers_file, now=now),
        ingest_events_file(factory, config, events_file, now=now),
    )


def decide_approvals(factory: SessionFactory, config: AppConfig, *, seed: int, now: datetime) -> tuple[int, int]:
    """The demo success manager approves about three in four pending requests and rejects the rest."""
    rng = random.Random(f"approvals:{seed}")
    approved = rejected = 0
    for pending in sorted(approvals.list_pending(factory), key=lambda item: item.id):
        if rng.random() < 0.75:
            note = "Happy customer, go ahead."
            approvals.approve(factory, request_ref=pending.id, by=SUCCESS_MANAGER, note=note, now=now, config=config)
            approved += 1
        else:
            note = "Renewal talks this month: not now."
            approvals.reject(factory, request_ref=pending.id, by=SUCCESS_MANAGER, note=note, now=now)
            rejected += 1
    return approved, rejected


def simulate_responses(factory: SessionFactory, simulated: set[str], *, seed: int, now: datetime) -> ResponseReport:
    """Responses to every message sent since the last call (``simulated`` remembers which were done)."""
    with factory() as session:
        query = (
            select(Message.id, Message.referral_request_id, Message.sequence_step, Message.sent_at,
                   ReferralRequest.variant, ReferralRequest.incentive)
            .join(ReferralRequest, ReferralRequest.id == Message.referral_request_id)
            .where(Message.status == MessageStatus.SENT)
            .order_by(Message.id)
        )  # fmt: skip
        rows = [row for row in session.execute(query) if row[0] not in simulated]
    messages = [
        demo_data.SentMessage(message_id, request_id, step, variant, incentive, sent_at or now)
        for message_id, request_id, step, sent_at, variant, incentive in rows
    ]
    simulated.update(message.message_id for message in messages)
    return record_responses(factory, demo_data.simulate_responses(messages, seed=seed), now=now)


def _due_steps(factory: SessionFactory, at: datetime) -> list[str]:
    """Which steps have work at ``at`` (the send step also expires approvals and settles leases)."""
    with factory() as session:
        sends = session.execute(select(func.min(ReferralRequest.scheduled_for)).where(_awaiting_send())).scalar()
        follow_ups = session.execute(select(func.min(ReferralRequest.next_followup_at)).where(_awaiting_follow_up()))
        first_follow_up = follow_ups.scalar()
    return [name for name, due in (("send", sends), ("follow-ups", first_follow_up)) if due is not None and due <= at]


def _next_due(factory: SessionFactory, *, after: datetime) -> datetime | None:
    """The earliest time after ``after`` at which a first ask or a follow-up is due."""
    with factory() as session:
        sends = session.execute(
            select(func.min(ReferralRequest.scheduled_for)).where(
                _awaiting_send(), ReferralRequest.scheduled_for > after
            )
        ).scalar()
        follow_ups = session.execute(
            select(func.min(ReferralRequest.next_followup_at)).where(
                _awaiting_follow_up(), ReferralRequest.next_followup_at > after
            )
        ).scalar()
    candidates = [due for due in (sends, follow_ups) if due is not None]
    return min(candidates) if candidates else None


def _awaiting_send() -> Any:
    return ReferralRequest.status.in_([status.value for status in AWAITING_SEND])


def _awaiting_follow_up() -> Any:
    return (ReferralRequest.status == RequestStatus.SENT) & ReferralRequest.next_followup_at.is_not(None)


# --------------------------------------------------------------------------- without Prefect
def direct_runner(settings: Settings, *, batch_size: int = DEFAULT_BATCH_SIZE) -> StepRunner:
    """Run the steps through the services in this process: what the flows do, minus Prefect, from
    the same pipeline (sender, composer and ``delivery.yaml``'s options)."""
    from referral_automation.services.approvals import expire_overdue_approvals
    from referral_automation.services.detection.detect import detect_moments
    from referral_automation.services.sending.first_asks import send_due
    from referral_automation.services.sending.follow_ups import send_follow_ups

    pipeline = build_pipeline(settings)
    options = pipeline.delivery_options(batch_size=batch_size, worker="demo")

    def run(name: str, at: datetime) -> Mapping[str, Any]:
        sessions, config, composer = pipeline.sessions, pipeline.config, pipeline.composer
        if name == "detect":
            return detect_moments(sessions, config, now=at).as_dict()
        step = send_due if name == "send" else send_follow_ups
        expired = {"expired_approvals": expire_overdue_approvals(sessions, now=at)} if name == "send" else {}
        report = step(sessions, config=config, sender=pipeline.sender(at), composer=composer, now=at, options=options)
        return {**expired, **report.as_dict()}

    return run
