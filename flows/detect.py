"""The ``detect-moments`` flow: ``services.detection`` one batch per task, and its artifacts.

The flow only orchestrates: it reads settings and config, refreshes every campaign's multi-armed
test (``services.bandit.refresh``: one allocation per campaign, used by every request the run
creates), asks for the event horizon, and runs the detection loop
(``services.detection.detect.detection_loop``) with each scan and decide batch as a task. It then
publishes the counts (markdown) and each campaign's test (a table per campaign, key
``bandit-<campaign>``). Every batch is its own transaction, so a failed task leaves a consistent
database and is retried (transient database errors) or picked up by the next run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from referral_automation.pipeline import Pipeline, build_pipeline
from referral_automation.services.bandit.refresh import Allocations, refresh_allocations
from referral_automation.services.bandit.report import CampaignReport, bandit_reports
from referral_automation.services.detection.detect import (
    DEFAULT_BATCH_SIZE,
    DecisionResult,
    DetectionReport,
    ScanResult,
    decide_customers,
    detection_loop,
    event_horizon,
    scan_events,
)

from .runtime import DATABASE_RETRIES, unvisited, utc

ARTIFACT_KEY = "detect-moments"


@task(name="refresh-bandit", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def refresh_task(pipeline: Pipeline, now: datetime) -> Allocations:
    return refresh_allocations(pipeline.sessions, pipeline.config, now=now)


@task(name="report-bandit", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def report_task(pipeline: Pipeline, allocations: Allocations, now: datetime) -> list[CampaignReport]:
    return bandit_reports(pipeline.sessions, pipeline.config, allocations, now=now)


@task(name="event-horizon", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def horizon_task(pipeline: Pipeline) -> int:
    return event_horizon(pipeline.sessions)


@task(name="scan-events", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def scan_task(pipeline: Pipeline, now: datetime, horizon: int, batch_size: int) -> ScanResult:
    return scan_events(pipeline.sessions, pipeline.config, now=now, horizon=horizon, batch_size=batch_size)


@task(name="decide-customers", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def decide_task(
    pipeline: Pipeline, now: datetime, after: str, batch_size: int, allocations: Allocations
) -> DecisionResult:
    return decide_customers(
        pipeline.sessions, pipeline.config, now=now, after=after, batch_size=batch_size, allocations=allocations
    )


@flow(name="detect-moments", description="Journey events in, moments of truth and referral requests out.")
def detect_flow(now: datetime | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Scan new journey events for moments of truth and turn the best of each customer into a request."""
    at = utc(now)
    pipeline = unvisited(build_pipeline())
    allocations = unvisited(refresh_task(pipeline, at))
    horizon = horizon_task(pipeline)
    report = detection_loop(
        scan=lambda: scan_task(pipeline, at, horizon, batch_size),
        decide=lambda after: decide_task(pipeline, at, after, batch_size, allocations),
    )
    create_markdown_artifact(markdown=summary_markdown(report, at), key=ARTIFACT_KEY, description="Detection counts")
    for test in report_task(pipeline, allocations, at):
        create_table_artifact(table=test.table(), key=bandit_key(test.campaign), description=bandit_markdown(test))
    get_run_logger().info("detection: %s", report.as_dict())
    return report.as_dict()


def bandit_key(campaign: str) -> str:
    """A campaign's artifact key (Prefect's keys take lowercase letters, digits and dashes)."""
    return f"bandit-{campaign.replace('_', '-')}"


def bandit_markdown(test: CampaignReport) -> str:
    """The artifact's description: what the table is, and the notes it cannot show."""
    lines = [f"## Multi-armed test of {test.campaign} at {test.now.isoformat()}", ""]
    return "\n".join(lines + [f"- {note}" for note in test.notes()]) + "\n"


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
