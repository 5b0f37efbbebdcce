"""The ``send-follow-ups`` flow: ``services.sending.follow_ups`` one batch per task, and a summary artifact.

Like ``send``: the pipeline is built once, claim-send-record batches run until none is due, a
failed batch is recorded and the run goes on, and a run with failed batches publishes its counts
and then fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from referral_automation.domain.delivery import DeliveryOptions
from referral_automation.email.message import EmailSender
from referral_automation.pipeline import DEFAULT_BATCH_SIZE, Pipeline, build_pipeline
from referral_automation.services.sending.batches import DeliveryReport
from referral_automation.services.sending.follow_ups import follow_up_batch

from .runtime import DATABASE_RETRIES, finish, publish, run_batches, unvisited, utc

ARTIFACT_KEY = "send-follow-ups"


@task(name="follow-up-batch", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def follow_up_batch_task(
    pipeline: Pipeline, sender: EmailSender, now: datetime, options: DeliveryOptions
) -> DeliveryReport:
    return follow_up_batch(
        pipeline.sessions, config=pipeline.config, sender=sender, composer=pipeline.composer, now=now, options=options
    )


@flow(name="send-follow-ups", description="Remind customers who have not responded, at +3 and +7 days.")
def followups_flow(now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Send every due follow-up batch by batch; the counts by outcome."""
    at = utc(now)
    pipeline = build_pipeline()
    sender = pipeline.sender(at)
    options = pipeline.delivery_options(batch_size=batch_size)
    report, errors = run_batches(
        lambda: follow_up_batch_task(unvisited(pipeline), unvisited(sender), at, unvisited(options)),
        label="follow-up",
    )
    counts = report.as_dict()
    publish(ARTIFACT_KEY, "Follow-ups sent", counts, errors, at)
    return finish(counts, errors)
