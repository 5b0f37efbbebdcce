"""The ``detect-moments`` flow: ``services.detection.detect`` one batch per task, and a summary artifact.

The flow only orchestrates: it reads settings and config, asks for the event horizon, scans
event batches until the horizon is reached, decides customer batches until none is left, and
publishes the counts. Every batch is its own transaction, so a failed task leaves a consistent
database and is retried (transient database errors) or picked up by the next run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from flows.runtime import DATABASE_RETRIES, utc
from referral_automation.config import AppConfig, load_config
from referral_automation.db.session import session_factory
from referral_automation.services.detection.detect import (
    DEFAULT_BATCH_SIZE,
    DecisionResult,
    DetectionReport,
    ScanResult,
    decide_customers,
    event_horizon,
    scan_events,
)
from referral_automation.settings import load_settings

ARTIFACT_KEY = "detect-moments"


def unvisited(config: AppConfig) -> AppConfig:
    """``config`` marked so Prefect hands it to a task without walking every field (about 6 ms a call)."""
    return cast(AppConfig, quote(config))


@task(name="event-horizon", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def horizon_task(database_url: str) -> int:
    return event_horizon(session_factory(database_url))


@task(name="scan-events", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def scan_task(database_url: str, config: AppConfig, now: datetime, horizon: int, batch_size: int) -> ScanResult:
    return scan_events(session_factory(database_url), config, now=now, horizon=horizon, batch_size=batch_size)


@task(name="decide-customers", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def decide_task(database_url: str, config: AppConfig, now: datetime, after: str, batch_size: int) -> DecisionResult:
    return decide_customers(session_factory(database_url), config, now=now, after=after, batch_size=batch_size)


@flow(name="detect-moments", description="Journey events in, moments of truth and referral requests out.")
def detect_flow(now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Scan new journey events for moments of truth and turn the best of each customer into a request."""
    at = utc(now)
    settings = load_settings()
    config = load_config(settings.config_dir)
    url = settings.database_url
    report = DetectionReport()
    horizon = horizon_task(url)
    while True:
        scan = scan_task(url, unvisited(config), at, horizon, batch_size)
        report.add_scan(scan)
        if not scan.more:
            break
    after = ""
    while True:
        decision = decide_task(url, unvisited(config), at, after, batch_size)
        report.add_decision(decision)
        if not decision.more or decision.last_customer_id is None:
            break
        after = decision.last_customer_id
    create_markdown_artifact(markdown=summary_markdown(report, at), key=ARTIFACT_KEY, description="Detection counts")
    get_run_logger().info("detection: %s", report.as_dict())
    return report.as_dict()


def summary_markdown(report: DetectionReport, now: datetime) -> str:
    """The run's counts as a markdown table (shown on the run's Artifacts tab)."""
    lines = [
        f"## Moments detected at {now.isoformat()}",
        "",
        "| measure | count |",
        "| --- | ---: |",
        f"| events scanned | {report.events_scanned} |",
        f"| candidate moments | {report.candidates} |",
        f"| referral requests created | {report.requests_created} |",
        f"| of which pending approval | {report.pending_approval} |",
        f"| superseded by a better moment | {report.superseded} |",
    ]
    lines += [f"| blocked by {guard} | {count} |" for guard, count in report.blocked.items()]
    lines += [f"| watermark (last event seq) | {report.watermark} |"]
    return "\n".join(lines) + "\n"
