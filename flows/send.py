"""The ``send-referral-requests`` flow: ``services.sending.first_asks`` one batch per task, and a summary artifact.

Orchestration only. The flow expires overdue approvals, builds the run's pipeline (sender,
template composer, delivery options) once, then runs claim-send-record batches until a claim finds
nothing due. Each batch is a task of its own: a batch that fails is retried on transient database
errors, then recorded, and the next batch goes on (its requests stay leased and return after the
lease, to be reconciled).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from referral_automation.domain.delivery import DeliveryOptions
from referral_automation.email.message import EmailSender
from referral_automation.pipeline import DEFAULT_BATCH_SIZE, Pipeline, build_pipeline
from referral_automation.services.approvals import expire_overdue_approvals
from referral_automation.services.sending.batches import DeliveryReport
from referral_automation.services.sending.first_asks import send_batch

from .runtime import DATABASE_RETRIES, finish, publish, run_batches, unvisited, utc

ARTIFACT_KEY = "send-referral-requests"


@task(name="expire-approvals", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def expire_task(pipeline: Pipeline, now: datetime) -> int:
    return expire_overdue_approvals(pipeline.sessions, now=now)


@task(name="send-batch", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def send_batch_task(pipeline: Pipeline, sender: EmailSender, now: datetime, options: DeliveryOptions) -> DeliveryReport:
    return send_batch(
        pipeline.sessions, config=pipeline.config, sender=sender, composer=pipeline.composer, now=now, options=options
    )


@flow(name="send-referral-requests", description="Send every due referral request once, inside its send window.")
def send_flow(now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Expire overdue approvals, then send due first asks batch by batch; the counts by outcome."""
    at = utc(now)
    pipeline = build_pipeline()
    expired = expire_task(unvisited(pipeline), at)
    sender = pipeline.sender(at)
    options = pipeline.delivery_options(batch_size=batch_size)
    report, errors = run_batches(
        lambda: send_batch_task(unvisited(pipeline), unvisited(sender), at, unvisited(options)), label="send"
    )
    counts = {"expired_approvals": expired, **report.as_dict()}
    publish(ARTIFACT_KEY, "Referral requests sent", counts, errors, at)
    return finish(counts, errors)
