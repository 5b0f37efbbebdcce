"""Send windows at send time: the customer's zone, weekends, DST, and zones that do not exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from referral_automation.domain.followups import follow_up_time
from referral_automation.services.sending.first_asks import send_due
from tests.support.send import (
    OPTIONS,
    Factory,
    FakeSender,
    add_customer,
    add_request,
    at_local,
    audit_actions,
    fake_composer,
    request_row,
    shipped_config,
)

BERLIN, TOKYO, NEW_YORK = "Europe/Berlin", "Asia/Tokyo", "America/New_York"


def run(factory: Factory, sender: FakeSender, now: datetime) -> None:
    send_due(factory, config=shipped_config(), sender=sender, composer=fake_composer, now=now, options=OPTIONS)


def test_friday_1700_moves_to_monday_0900(factory: Factory) -> None:
    """It holds a request due on Friday afternoon until Monday 09:00 when the run comes at 17:00 local."""
    add_customer(factory, "ann", timezone=BERLIN)
    request_id = add_request(factory, "ann", scheduled_for=at_local(BERLIN, 2026, 3, 6, 16))
    sender = FakeSender()
    run(factory, sender, at_local(BERLIN, 2026, 3, 6, 17))
    request = request_row(factory, request_id)
    assert (request.status, sender.handed) == ("scheduled", [])
    assert request.scheduled_for == at_local(BERLIN, 2026, 3, 9, 9)
    run(factory, sender, at_local(BERLIN, 2026, 3, 8, 23, 59))
    assert sender.handed == []
    run(factory, sender, at_local(BERLIN, 2026, 3, 9, 9))
    assert request_row(factory, request_id).status == "sent"


def test_friday_1659_still_goes(factory: Factory) -> None:
    """It sends a request on Friday at 16:59 local, inside the window."""
    add_customer(factory, "ann", timezone=BERLIN)
    request_id = add_request(factory, "ann", scheduled_for=at_local(BERLIN, 2026, 3, 6, 16))
    sender = FakeSender()
    run(factory, sender, at_local(BERLIN, 2026, 3, 6, 16, 59))
    assert request_row(factory, request_id).status == "sent"


def test_approved_on_saturday_waits_for_monday_and_stays_approved(factory: Factory) -> None:
    """It keeps an approved request approved while it waits for the window to open."""
    add_customer(factory, "ann", timezone=BERLIN)
    request_id = add_request(factory, "ann", status="approved", scheduled_for=at_local(BERLIN, 2026, 3, 2, 9))
    sender = FakeSender()
    run(factory, sender, at_local(BERLIN, 2026, 3, 7, 12))
    request = request_row(factory, request_id)
    assert (request.status, request.scheduled_for) == ("approved", at_local(BERLIN, 2026, 3, 9, 9))


def test_tokyo_evening_waits_for_tokyo_morning(factory: Factory) -> None:
    """It sends to a Tokyo customer at 09:00 Tokyo time, which is midnight UTC, not during Europe's day."""
    add_customer(factory, "kenji", timezone=TOKYO)
    wednesday_10_utc = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # 19:00 in Tokyo
    request_id = add_request(factory, "kenji", scheduled_for=wednesday_10_utc)
    sender = FakeSender()
    run(factory, sender, wednesday_10_utc)
    assert request_row(factory, request_id).scheduled_for == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
    run(factory, sender, datetime(2026, 3, 5, 0, 0, tzinfo=UTC))
    request = request_row(factory, request_id)
    assert request.status == "sent"
    # Thursday + 3 days is Sunday in Tokyo: the follow-up waits for Monday 09:00 JST.
    assert request.next_followup_at == at_local(TOKYO, 2026, 3, 9, 9)


def test_dst_change_week_in_berlin(factory: Factory) -> None:
    """It opens Monday's window at 09:00 summer time after the clocks went forward on Sunday."""
    add_customer(factory, "ann", timezone=BERLIN)
    request_id = add_request(factory, "ann", scheduled_for=at_local(BERLIN, 2026, 3, 27, 16))
    sender = FakeSender()
    run(factory, sender, at_local(BERLIN, 2026, 3, 27, 17, 30))  # Friday, still winter time (UTC+1)
    monday = request_row(factory, request_id).scheduled_for
    assert monday == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST (UTC+2)
    run(factory, sender, monday)
    request = request_row(factory, request_id)
    assert request.status == "sent"
    assert request.next_followup_at == at_local(BERLIN, 2026, 4, 2, 9)


def test_follow_ups_keep_the_local_time_of_day_across_dst(factory: Factory) -> None:
    """It plans follow-ups in calendar days of the customer's zone, so a DST change does not shift them."""
    add_customer(factory, "ann", timezone=BERLIN)
    thursday = at_local(BERLIN, 2026, 3, 26, 10)  # winter time
    request_id = add_request(factory, "ann", scheduled_for=thursday)
    run(factory, FakeSender(), thursday)
    # +3 days is Sunday 29th (the change): Monday 09:00 summer time.
    assert request_row(factory, request_id).next_followup_at == at_local(BERLIN, 2026, 3, 30, 9)
    campaign = shipped_config().campaign("customer_referral")
    second = follow_up_time(campaign, ZoneInfo(BERLIN), first_sent_at=thursday, done=1, now=thursday)
    assert second == at_local(BERLIN, 2026, 4, 2, 10)  # 10:00 local again, one hour earlier in UTC


def test_new_york_fall_back(factory: Factory) -> None:
    """It opens Monday's window at 09:00 standard time after New York's clocks went back."""
    add_customer(factory, "joe", timezone=NEW_YORK)
    request_id = add_request(factory, "joe", scheduled_for=at_local(NEW_YORK, 2026, 10, 30, 16))
    run(factory, FakeSender(), at_local(NEW_YORK, 2026, 10, 30, 18))
    assert request_row(factory, request_id).scheduled_for == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_invalid_zone_falls_back_to_utc_with_a_warning(factory: Factory) -> None:
    """It uses UTC for a zone that does not exist and records a timezone_fallback warning in the audit log."""
    add_customer(factory, "zed", timezone="Mars/Olympus_Mons")
    wednesday_18_utc = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    request_id = add_request(factory, "zed", scheduled_for=wednesday_18_utc)
    sender = FakeSender()
    run(factory, sender, wednesday_18_utc)
    assert request_row(factory, request_id).scheduled_for == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    run(factory, sender, datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    assert request_row(factory, request_id).status == "sent"
    [warning] = audit_actions(factory, "timezone_fallback")
    assert (warning.actor, warning.subject_type, warning.subject_id) == ("send", "customer", "zed")
    assert "Mars/Olympus_Mons" in warning.details["warning"]
    assert warning.details["referral_request_id"] == request_id
    assert warning.details["sequence_step"] == 0


def test_expired_lease_outside_the_window_waits_for_the_opening(factory: Factory) -> None:
    """It moves the lease of a crashed send to the window's next opening instead of sending at night."""
    add_customer(factory, "ann", timezone=BERLIN)
    friday_evening = at_local(BERLIN, 2026, 3, 6, 20)
    request_id = add_request(
        factory, "ann", status="sending", scheduled_for=friday_evening - timedelta(hours=6),
        lease_owner="dead", lease_expires_at=friday_evening - timedelta(hours=1),
    )  # fmt: skip
    sender = FakeSender()
    run(factory, sender, friday_evening)
    request = request_row(factory, request_id)
    assert (request.status, request.lease_expires_at, sender.handed) == ("sending", at_local(BERLIN, 2026, 3, 9, 9), [])
