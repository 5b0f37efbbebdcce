"""Follow-ups: up to ``follow_ups.after_days`` reminders after the first send (3 and 7 days by default).

A follow-up goes only while the customer has not responded (reply, referral-link click, referral),
the address is not suppressed and the customer still opts in, and only inside the send window.
Step ``n`` (1, 2, …) is due at the window's next opening at or after *first send +
after_days[n-1]*; a reply or a suppression clears ``next_followup_at`` (``services.responses.record``), and
the claim checks again in case it came by another way. The same message-row-first protocol as the
first ask (``services.sending.deliver``) makes each step go out at most once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig, Campaign
from referral_automation.db.bulk import BulkUpdate
from referral_automation.domain.sendwindow import next_opening
from referral_automation.email.message import EmailSender
from referral_automation.services.sending import store
from referral_automation.services.sending.claims import lease_follow_ups
from referral_automation.services.sending.deliver import (
    Composer,
    DeliveryOptions,
    DeliveryReport,
    Job,
    Outcome,
    Verdict,
    deliver,
    frozen_heap,
    read_evidence,
    record_messages,
)

SessionFactory = sessionmaker[Session]


def follow_up_time(
    campaign: Campaign, zone: ZoneInfo, *, first_sent_at: datetime, done: int, now: datetime
) -> datetime | None:
    """When follow-up ``done + 1`` is due, or None when every follow-up has gone.

    Normally the window's opening at or after first send + ``after_days[done]`` calendar days in
    the customer's zone (so the same time of day on both sides of a DST change). If that time has
    passed already (retries, an outage), the follow-up keeps its spacing from *now* instead, so two
    reminders never go out back to back.
    """
    days = campaign.follow_ups.after_days
    if done >= len(days):
        return None
    due = next_opening(_days_later(first_sent_at, days[done], zone), zone, campaign.send_window)
    if due <= now:
        gap = days[done] - (days[done - 1] if done else 0)
        due = next_opening(_days_later(now, gap, zone), zone, campaign.send_window)
    return due


def _days_later(at: datetime, days: int, zone: ZoneInfo) -> datetime:
    """Calendar days in the customer's zone: the same time of day across a DST change."""
    return (at.astimezone(zone) + timedelta(days=days)).astimezone(UTC)


class FollowUpSchedule:
    """``follow_up_time`` for a batch, worked out once per (campaign, zone, first send, step)."""

    def __init__(self, config: AppConfig, *, now: datetime) -> None:
        self.config = config
        self.now = now
        self._known: dict[tuple[str, str, datetime, int], datetime | None] = {}

    def next(self, job: Job, *, first_sent_at: datetime, done: int) -> datetime | None:
        key = (job.campaign, job.zone.key, first_sent_at, done)
        if key not in self._known:
            campaign = self.config.campaign(job.campaign)
            self._known[key] = follow_up_time(campaign, job.zone, first_sent_at=first_sent_at, done=done, now=self.now)
        return self._known[key]


@frozen_heap()
def follow_up_batch(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions,
) -> DeliveryReport:
    """Claim, send and record one batch of due follow-ups (in the transactions ``send_batch`` uses)."""
    with session_factory() as session, session.begin():
        claim = lease_follow_ups(session, config=config, now=now, options=options)
        evidence = read_evidence(session, claim.message_keys())
    claim.build_jobs()
    report = DeliveryReport(batches=1, claimed=len(claim.jobs), rescheduled=claim.rescheduled, finished=claim.finished)
    if not claim.jobs:
        return report
    outcomes = deliver(
        session_factory, claim.jobs, sender=sender, composer=composer, now=now, options=options, evidence=evidence
    )
    record_follow_ups(session_factory, outcomes, config=config, now=now)
    report.count(outcomes)
    return report


def record_follow_ups(
    session_factory: SessionFactory, outcomes: list[Outcome], *, config: AppConfig, now: datetime
) -> None:
    """Step 5: message rows and requests of a follow-up batch, in one transaction."""
    schedule = FollowUpSchedule(config, now=now)
    updates = [_request_update(outcome, schedule=schedule, now=now) for outcome in outcomes]
    with session_factory() as session, session.begin():
        requests = BulkUpdate(session, store.requests_table, updates)  # prepared before the lock is taken
        record_messages(session, outcomes, actor="follow-ups", now=now)
        requests.run()


def _request_update(outcome: Outcome, *, schedule: FollowUpSchedule, now: datetime) -> dict[str, Any]:
    job, verdict = outcome.job, outcome.verdict
    released = {"id": job.request_id, "lease_owner": None, "lease_expires_at": None, "updated_at": now}
    if verdict in (Verdict.SENT, Verdict.SETTLED):
        first = job.first_sent_at or outcome.sent_at or now
        following = schedule.next(job, first_sent_at=first, done=job.step)
        return released | {"followups_sent": job.step, "next_followup_at": following, "attempts": 0, "last_error": None}
    if verdict in (Verdict.FAILED, Verdict.STOPPED):
        return released | {"next_followup_at": None, "last_error": outcome.error if verdict is Verdict.FAILED else None}
    if verdict is Verdict.RETRY:
        return released | {
            "next_followup_at": outcome.retry_at,
            "attempts": job.attempts + 1,
            "last_error": outcome.error,
        }
    if verdict is Verdict.AMBIGUOUS:
        return {"id": job.request_id, "lease_expires_at": outcome.retry_at, "attempts": job.attempts + 1,
                "last_error": outcome.error, "updated_at": now}  # fmt: skip
    return {"id": job.request_id, "lease_expires_at": outcome.retry_at, "updated_at": now}  # WAITING


def send_follow_ups(
    session_factory: SessionFactory,
    *,
    config: AppConfig,
    sender: EmailSender,
    composer: Composer,
    now: datetime,
    options: DeliveryOptions | None = None,
) -> DeliveryReport:
    """Every due follow-up, batch after batch, until a claim finds nothing due."""
    options = options or DeliveryOptions()
    report = DeliveryReport()
    while True:
        batch = follow_up_batch(
            session_factory, config=config, sender=sender, composer=composer, now=now, options=options
        )
        report.add(batch)
        if batch.claimed + batch.rescheduled + batch.finished == 0:
            return report
