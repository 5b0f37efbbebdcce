"""Send windows in the customer's own time zone, across weekends and clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_automation.config import WEEKDAYS, SendWindow
from referral_automation.domain.sendwindow import next_opening, resolve_zone

OFFICE_HOURS = SendWindow()  # Monday to Friday, 09:00-17:00: the shipped default
EVERY_DAY = SendWindow(days=list(WEEKDAYS))
SMALL_HOURS = SendWindow(days=list(WEEKDAYS), start=time(2, 30), end=time(5, 0))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


CASES = [
    # (id, zone, window, at (UTC), expected (UTC))
    ("inside", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 10, 0), utc(2025, 6, 4, 10, 0)),
    ("at-opening", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 9, 0), utc(2025, 6, 4, 9, 0)),
    ("last-second", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 16, 59, 59), utc(2025, 6, 4, 16, 59, 59)),
    ("before-hours", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 8, 59), utc(2025, 6, 4, 9, 0)),
    ("after-midnight", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 0, 0), utc(2025, 6, 4, 9, 0)),
    ("at-closing", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 17, 0), utc(2025, 6, 5, 9, 0)),
    ("after-hours", "UTC", OFFICE_HOURS, utc(2025, 6, 4, 22, 0), utc(2025, 6, 5, 9, 0)),
    ("friday-17", "UTC", OFFICE_HOURS, utc(2025, 6, 6, 17, 0), utc(2025, 6, 9, 9, 0)),
    ("friday-night", "UTC", OFFICE_HOURS, utc(2025, 6, 6, 23, 59), utc(2025, 6, 9, 9, 0)),
    ("saturday", "UTC", OFFICE_HOURS, utc(2025, 6, 7, 12, 0), utc(2025, 6, 9, 9, 0)),
    ("sunday-late", "UTC", OFFICE_HOURS, utc(2025, 6, 8, 23, 59), utc(2025, 6, 9, 9, 0)),
    ("monday-early", "UTC", OFFICE_HOURS, utc(2025, 6, 9, 3, 0), utc(2025, 6, 9, 9, 0)),
    ("saturday-when-weekends-allowed", "UTC", EVERY_DAY, utc(2025, 6, 7, 12, 0), utc(2025, 6, 7, 12, 0)),
    ("saturday-night-when-weekends-allowed", "UTC", EVERY_DAY, utc(2025, 6, 7, 18, 0), utc(2025, 6, 8, 9, 0)),
    ("mondays-only-after-closing", "UTC", SendWindow(days=["mon"]), utc(2025, 6, 9, 17, 0), utc(2025, 6, 16, 9, 0)),
    ("tokyo-inside", "Asia/Tokyo", OFFICE_HOURS, utc(2025, 6, 4, 1, 0), utc(2025, 6, 4, 1, 0)),
    ("tokyo-before-hours", "Asia/Tokyo", OFFICE_HOURS, utc(2025, 6, 4, 23, 0), utc(2025, 6, 5, 0, 0)),
    ("tokyo-friday-evening", "Asia/Tokyo", OFFICE_HOURS, utc(2025, 6, 6, 8, 30), utc(2025, 6, 9, 0, 0)),
    # Sunday 23:30 UTC is already Monday 08:30 in Tokyo.
    ("tokyo-sunday-utc-is-monday", "Asia/Tokyo", OFFICE_HOURS, utc(2025, 6, 8, 23, 30), utc(2025, 6, 9, 0, 0)),
    # Friday 22:00 UTC is still Friday 18:00 in New York: next opening Monday 09:00 EDT.
    ("new-york-friday-evening", "America/New_York", OFFICE_HOURS, utc(2025, 6, 6, 22, 0), utc(2025, 6, 9, 13, 0)),
    # Clocks go forward on Sunday 2025-03-30 in Berlin: Monday 09:00 is 07:00 UTC, not 08:00.
    ("berlin-spring-forward", "Europe/Berlin", OFFICE_HOURS, utc(2025, 3, 28, 16, 30), utc(2025, 3, 31, 7, 0)),
    # Clocks go back on Sunday 2025-10-26 in Berlin: Monday 09:00 is 08:00 UTC, not 07:00.
    ("berlin-fall-back", "Europe/Berlin", OFFICE_HOURS, utc(2025, 10, 24, 15, 30), utc(2025, 10, 27, 8, 0)),
    ("berlin-spring-forward-sunday", "Europe/Berlin", EVERY_DAY, utc(2025, 3, 29, 17, 0), utc(2025, 3, 30, 7, 0)),
    ("berlin-fall-back-sunday", "Europe/Berlin", EVERY_DAY, utc(2025, 10, 25, 16, 0), utc(2025, 10, 26, 8, 0)),
    # Clocks go forward on Sunday 2025-03-09 and back on Sunday 2025-11-02 in New York.
    ("new-york-spring-forward", "America/New_York", OFFICE_HOURS, utc(2025, 3, 7, 22, 30), utc(2025, 3, 10, 13, 0)),
    ("new-york-fall-back", "America/New_York", OFFICE_HOURS, utc(2025, 10, 31, 21, 30), utc(2025, 11, 3, 14, 0)),
    ("new-york-spring-forward-sunday", "America/New_York", EVERY_DAY, utc(2025, 3, 8, 23, 0), utc(2025, 3, 9, 13, 0)),
    ("new-york-fall-back-sunday", "America/New_York", EVERY_DAY, utc(2025, 11, 1, 22, 0), utc(2025, 11, 2, 14, 0)),
    # 02:30 does not exist in Berlin on 2025-03-30: the window opens when the clock reads 03:30.
    ("opening-in-dst-gap-moves-on", "Europe/Berlin", SMALL_HOURS, utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 1, 30)),
    # 02:45 happens twice in Berlin on 2025-10-26; both are inside a 02:30-05:00 window.
    ("first-of-a-repeated-hour", "Europe/Berlin", SMALL_HOURS, utc(2025, 10, 26, 0, 45), utc(2025, 10, 26, 0, 45)),
    # Samoa skipped Friday 2011-12-30 entirely: Thursday evening waits for Monday, not Saturday.
    ("a-skipped-day-is-no-opening", "Pacific/Apia", OFFICE_HOURS, utc(2011, 12, 30, 4, 0), utc(2012, 1, 1, 19, 0)),
    ("second-of-a-repeated-hour", "Europe/Berlin", SMALL_HOURS, utc(2025, 10, 26, 1, 45), utc(2025, 10, 26, 1, 45)),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "window", "at", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_opening(zone: str, window: SendWindow, at: datetime, expected: datetime) -> None:
    """It keeps a time inside the window and otherwise moves it to the next opening in the customer's zone."""
    result = next_opening(at, ZoneInfo(zone), window)
    assert result == expected
    assert result.tzinfo is UTC


def test_an_aware_time_in_another_zone_is_the_same_instant() -> None:
    """It accepts an aware time in any zone and answers in UTC."""
    at = datetime(2025, 6, 6, 19, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Friday 17:00 UTC
    assert next_opening(at, ZoneInfo("UTC"), OFFICE_HOURS) == utc(2025, 6, 9, 9, 0)


ZONE_CASES = [
    ("iana", "Europe/Berlin", "Europe/Berlin", False),
    ("utc", "UTC", "UTC", False),
    ("empty", "", "UTC", False),
    ("none", None, "UTC", False),
    ("unknown", "Mars/Olympus_Mons", "UTC", True),
    ("a-folder", "America", "UTC", True),
    ("path", "../../etc/passwd", "UTC", True),
    ("offset", "+02:00", "UTC", True),
]


@pytest.mark.parametrize(("name", "zone", "warns"), [c[1:] for c in ZONE_CASES], ids=[c[0] for c in ZONE_CASES])
def test_resolve_zone(name: str | None, zone: str, warns: bool) -> None:
    """It resolves an IANA zone, and falls back to UTC with a warning naming a zone it does not know."""
    resolved, warning = resolve_zone(name)
    assert resolved == ZoneInfo(zone)
    if warns:
        assert warning == f"unknown time zone {name!r}: using UTC"
    else:
        assert warning is None


def test_an_invalid_zone_is_scheduled_in_utc() -> None:
    """It schedules a customer with an unknown zone by UTC office hours."""
    zone, warning = resolve_zone("Not/AZone")
    assert warning is not None
    assert next_opening(utc(2025, 6, 6, 17, 0), zone, OFFICE_HOURS) == utc(2025, 6, 9, 9, 0)


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Auckland",
    "America/Sao_Paulo",
]
windows = st.builds(
    lambda days, start, length: SendWindow(
        days=sorted(days, key=WEEKDAYS.index),
        start=time(start // 2, 30 * (start % 2)),
        end=time((start + length) // 2, 30 * ((start + length) % 2)),
    ),
    days=st.sets(st.sampled_from(WEEKDAYS), min_size=1),
    start=st.integers(8, 24),  # half hours: 04:00 to 12:00, clear of the small hours where clocks change
    length=st.integers(1, 22),
)


def inside(moment: datetime, zone: ZoneInfo, window: SendWindow) -> bool:
    local = moment.astimezone(zone)
    return WEEKDAYS[local.weekday()] in window.days and window.start <= local.time() < window.end


QUARTER = timedelta(minutes=15)


@settings(deadline=None)  # up to 768 probes an example: no timing assertion on a busy CI machine
@given(
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)),
    zone_name=st.sampled_from(ZONES),
    window=st.one_of(st.just(OFFICE_HOURS), windows),
)
def test_next_opening_is_the_first_time_inside_the_window(at: datetime, zone_name: str, window: SendWindow) -> None:
    """It answers the first UTC time inside the window at or after the input, less than 8 days later."""
    zone = ZoneInfo(zone_name)
    result = next_opening(at, zone, window)
    assert result.tzinfo is UTC
    assert at <= result < at + timedelta(days=8)
    assert inside(result, zone, window)
    if inside(at, zone, window):
        assert result == at
    # Every zone's offset is whole quarter hours and windows open on half hours: no earlier opening.
    probe = at + (datetime.min.replace(tzinfo=UTC) - at) % QUARTER
    while probe < result:
        assert not inside(probe, zone, window), probe
        probe += QUARTER
