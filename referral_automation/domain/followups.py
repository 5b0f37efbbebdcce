"""When follow-ups are due: calendar days after the first send, inside the customer's send window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from referral_automation.config import AppConfig, Campaign
from referral_automation.domain.sendwindow import next_opening


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
    """``follow_up_time`` for a batch, worked out once per (campaign, zone, first send, step):
    a batch's requests share a handful."""

    def __init__(self, config: AppConfig, *, now: datetime) -> None:
        self.config = config
        self.now = now
        self._known: dict[tuple[str, str, datetime, int], datetime | None] = {}

    def next(self, campaign_id: str, zone: ZoneInfo, *, first_sent_at: datetime, done: int) -> datetime | None:
        key = (campaign_id, zone.key, first_sent_at, done)
        if key not in self._known:
            campaign = self.config.campaign(campaign_id)
            self._known[key] = follow_up_time(campaign, zone, first_sent_at=first_sent_at, done=done, now=self.now)
        return self._known[key]
