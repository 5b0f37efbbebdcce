"""The ``send-follow-ups`` flow: ``services.sending.follow_ups`` one batch per task, and a summary artifact.

Like ``flows.send``: the sender and composer are built once, claim-send-record batches run until
none is due, a failed batch is recorded and the run goes on, and a run with failed batches
publishes its counts and then fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import DATABASE_RETRIES, utc
from flows.send import delivery_options, finish, publish, run_batches, sender_for, unvisited
from referral_automation.config import AppConfig, load_config
from referral_automation.db.session import session_factory
from referral_automation.email.message import EmailSender
from referral_automation.services.sending.composer import TemplateComposer
from referral_automation.services.sending.deliver import Composer, DeliveryOptions, DeliveryReport
from referral_automation.services.sending.follow_ups import follow_up_batch
from referral_automation.settings import load_settings

ARTIFACT_KEY = "send-follow-ups"


@task(name="follow-up-batch", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def follow_up_batch_task(
    database_url: str,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    factory = session_factory(database_url)
    return follow_up_batch(factory, config=config, sender=sender, composer=composer, now=now, options=options)


@flow(name="send-follow-ups", description="Remind customers who have not responded, at +3 and +7 days.")
def followups_flow(now: datetime | None = None, batch_size: int = 500) -> dict[str, Any]:
    """Send every due follow-up batch by batch; the counts by outcome."""
    at = utc(now)
    settings = load_settings()
    config = load_config(settings.config_dir)
    url = settings.database_url
    sender = sender_for(settings, config, at)
    composer = TemplateComposer.from_settings(settings, config)
    options = delivery_options(config, batch_size)
    report, errors = run_batches(
        lambda: follow_up_batch_task(
            url, unvisited(config), unvisited(sender), unvisited(composer), at, unvisited(options)
        ),
        label="follow-up",
    )
    counts = {**report.as_dict(), "failed_batches": len(errors)}
    publish(ARTIFACT_KEY, "Follow-ups sent", counts, errors, at)
    return finish(counts, errors)
