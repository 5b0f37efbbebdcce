"""The ``send-referral-requests`` flow: ``services.sending.first_asks`` one batch per task, and a summary artifact.

Orchestration only. The flow expires overdue approvals, builds the sender and the template
composer once, then runs claim-send-record batches until a claim finds nothing due. Each batch is a
task of its own: a batch that fails is retried on transient database errors, then recorded, and the
next batch goes on (its requests stay leased and return after the lease, to be reconciled). A run
with failed batches publishes its counts and then fails, so the CLI exits 1 and the UI shows red.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from flows.runtime import DATABASE_RETRIES, utc
from referral_automation.config import AppConfig, load_config
from referral_automation.db.session import session_factory
from referral_automation.email.message import EmailSender
from referral_automation.email.outbox import OutboxSender
from referral_automation.email.senders import make_sender
from referral_automation.errors import ReferralAutomationError
from referral_automation.services.approvals.decide import expire_overdue_approvals
from referral_automation.services.sending.composer import TemplateComposer
from referral_automation.services.sending.deliver import Composer, DeliveryOptions, DeliveryReport
from referral_automation.services.sending.first_asks import send_batch
from referral_automation.settings import Settings, load_settings

ARTIFACT_KEY = "send-referral-requests"
#: Consecutive failed batches after which a run stops (the database or the provider is down).
MAX_FAILED_BATCHES = 3
T = TypeVar("T")


class BatchesFailedError(ReferralAutomationError):
    """Some batches of a send or follow-up run failed; the others were done and are counted."""


def unvisited(value: T) -> T:
    """``value`` marked so Prefect hands it to a task without walking it (config, sender, composer)."""
    return cast(T, quote(value))


def worker_id() -> str:
    """Who holds the leases of this run: host and process, unique among concurrent runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def delivery_options(config: AppConfig, batch_size: int) -> DeliveryOptions:
    """Batch size from the run, reconcile window and attempts from ``delivery.yaml``."""
    delivery = config.delivery.sendgrid
    return DeliveryOptions(
        batch_size=batch_size,
        reconcile_after=timedelta(minutes=delivery.reconcile_window_minutes),
        max_attempts=delivery.max_attempts,
        worker=worker_id(),
    )


def sender_for(settings: Settings, config: AppConfig, now: datetime) -> EmailSender:
    """The configured sender; the outbox dates its files with the run's ``now`` (``--now`` replays)."""
    sender = make_sender(settings, config.delivery)
    if isinstance(sender, OutboxSender):
        return OutboxSender(sender.directory, clock=lambda: now)
    return sender


@task(name="expire-approvals", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def expire_task(database_url: str, now: datetime) -> int:
    return expire_overdue_approvals(session_factory(database_url), now=now)


@task(name="send-batch", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def send_batch_task(
    database_url: str,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    factory = session_factory(database_url)
    return send_batch(factory, config=config, sender=sender, composer=composer, now=now, options=options)


def run_batches(batch: Callable[[], DeliveryReport], *, label: str) -> tuple[DeliveryReport, list[str]]:
    """Call ``batch`` until it finds nothing to do; a failed batch is recorded and the next one goes on."""
    report, errors, failed_in_a_row = DeliveryReport(), [], 0
    while failed_in_a_row < MAX_FAILED_BATCHES:
        try:
            done = batch()
        except Exception as error:  # per-batch capture: flows are where broad catches belong
            failed_in_a_row += 1
            errors.append(f"{type(error).__name__}: {error}")
            get_run_logger().error("%s batch failed: %s", label, errors[-1])
            continue
        failed_in_a_row = 0
        report.add(done)
        if done.claimed + done.rescheduled + done.cancelled + done.finished == 0:
            break
    return report, errors


@flow(name="send-referral-requests", description="Send every due referral request once, inside its send window.")
def send_flow(now: datetime | None = None, batch_size: int = 500) -> dict[str, Any]:
    """Expire overdue approvals, then send due first asks batch by batch; the counts by outcome."""
    at = utc(now)
    settings = load_settings()
    config = load_config(settings.config_dir)
    url = settings.database_url
    expired = expire_task(url, at)
    sender = sender_for(settings, config, at)
    composer = TemplateComposer.from_settings(settings, config)
    options = delivery_options(config, batch_size)
    report, errors = run_batches(
        lambda: send_batch_task(url, unvisited(config), unvisited(sender), unvisited(composer), at, unvisited(options)),
        label="send",
    )
    counts = {"expired_approvals": expired, **report.as_dict(), "failed_batches": len(errors)}
    publish(ARTIFACT_KEY, "Referral requests sent", counts, errors, at)
    return finish(counts, errors)


def publish(key: str, title: str, counts: dict[str, int], errors: list[str], now: datetime) -> None:
    """The run's counts (and batch errors) as a markdown artifact on the run's Artifacts tab."""
    lines = [f"## {title} at {now.isoformat()}", "", "| measure | count |", "| --- | ---: |"]
    lines += [f"| {name.replace('_', ' ')} | {value} |" for name, value in counts.items()]
    if errors:
        lines += ["", "### Failed batches", "", *(f"- `{error}`" for error in errors)]
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=key, description=title)
    get_run_logger().info("%s: %s", key, counts)


def finish(counts: dict[str, int], errors: list[str]) -> dict[str, Any]:
    """The counts, or (after they were published) a failure naming the failed batches."""
    if errors:
        raise BatchesFailedError(f"{len(errors)} batch(es) failed, the first: {errors[0]}")
    return counts
