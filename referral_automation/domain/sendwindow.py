"""Send windows in the customer's own time zone, DST-correct.

Wall-clock times are built in the customer's zone with ``zoneinfo`` and converted to UTC, so
"09:00 on Monday in Berlin" is right on both sides of a clock change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from referral_automation.config import WEEKDAYS, SendWindow


def resolve_zone(name: str | None) -> tuple[ZoneInfo, str | None]:
    """The customer's zone, or UTC with a warning when the name is not a valid IANA zone."""
    if not name:
        return ZoneInfo("UTC"), None
    try:
        return ZoneInfo(name), None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        return ZoneInfo("UTC"), f"unknown time zone {name!r}: using UTC"


def _wall_clock(day: datetime, hour_minute: tuple[int, int], zone: ZoneInfo) -> datetime:
    """A local wall-clock time, normalised through UTC (a time in a DST gap moves forward)."""
    local = datetime(day.year, day.month, day.day, *hour_minute, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone)


def next_opening(at: datetime, zone: ZoneInfo, window: SendWindow) -> datetime:
    """``at`` itself if it falls inside the window, else the window's next opening (in UTC)."""
    local = at.astimezone(zone)
    for offset in range(8):
        day = local + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        opens = _wall_clock(day, (window.start.hour, window.start.minute), zone)
        if opens.date() != day.date():  # the zone skipped this whole day (Samoa, 2011-12-30)
            continue
        closes = _wall_clock(day, (window.end.hour, window.end.minute), zone)
        if offset == 0 and opens <= local < closes:
            return at.astimezone(UTC)
        if local < opens:
            return opens.astimezone(UTC)
    raise AssertionError("a send window with at least one day always opens within a week")
