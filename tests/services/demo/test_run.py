"""The demo's synthetic data: a realistic mix, the same for a seed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from referral_automation.domain.responses import ResponseKind
from referral_automation.services.demo import data as demo_data

NOW = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_customers_are_a_realistic_mix() -> None:
    """It makes customers in many zones, English and German, with enterprise and high-value accounts."""
    people = demo_data.customers(500, seed=7, now=NOW)
    records = [person.record for person in people]
    zones = Counter(record["timezone"] for record in records)
    assert len(zones) >= 8
    assert demo_data.SHOWCASE_ZONE in zones
    assert {record["locale"] for record in records} == {"en", "de"}
    assert any(record["plan"] == "enterprise" for record in records)
    assert any(float(record["lifetime_value"]) >= 50_000 for record in records)
    opted_in = sum(record["marketing_opt_in"] == "true" for record in records)
    assert 0.75 * len(records) < opted_in < len(records)
    assert {person.persona for person in people} == {"promoter", "passive", "detractor"}
    assert all(record["email"].split("@")[0].isascii() for record in records)
    assert len({record["email"] for record in records}) == len(records)


def test_events_cover_six_months_of_journeys() -> None:
    """It writes events of every known type over six months, oldest first, with recent survey answers."""
    people = demo_data.customers(200, seed=7, now=NOW)
    events = demo_data.journey_events(people, seed=7, now=NOW)
    times = [datetime.fromisoformat(event["occurred_at"]) for event in events]
    assert times == sorted(times)
    assert min(times) >= NOW - timedelta(days=demo_data.HISTORY_DAYS)
    assert max(times) <= NOW
    kinds = Counter(event["type"] for event in events)
    assert {"purchase", "nps_submitted", "ticket_opened", "ticket_resolved", "milestone_reached"} <= set(kinds)
    recent_promoters = [
        event for event, at in zip(events, times, strict=True)
        if event["type"] == "nps_submitted" and event["properties"]["score"] >= 9 and at > NOW - timedelta(days=7)
    ]  # fmt: skip
    assert recent_promoters
    scores = [event["properties"]["score"] for event in events if event["type"] == "nps_submitted"]
    assert any(score <= 6 for score in scores)
    assert len({event["event_id"] for event in events}) == len(events)


def test_same_seed_same_data_other_seed_other_data() -> None:
    """It gives the same customers and events for a seed and different ones for another seed."""
    first = demo_data.journey_events(demo_data.customers(50, seed=1, now=NOW), seed=1, now=NOW)
    again = demo_data.journey_events(demo_data.customers(50, seed=1, now=NOW), seed=1, now=NOW)
    other = demo_data.journey_events(demo_data.customers(50, seed=2, now=NOW), seed=2, now=NOW)
    assert first == again
    assert first != other


def test_responses_are_drawn_per_message_whatever_the_order() -> None:
    """It simulates each message's responses from its own seed, so the order of messages changes nothing."""
    messages = [
        demo_data.SentMessage(f"m{n}", f"r{n}", 0, "gratitude", "give50_get50", NOW + timedelta(hours=n))
        for n in range(300)
    ]
    forward = demo_data.simulate_responses(messages, seed=7)
    backward = demo_data.simulate_responses(list(reversed(messages)), seed=7)
    assert sorted(forward, key=lambda r: r.external_id or "") == sorted(backward, key=lambda r: r.external_id or "")
    kinds = Counter(response.kind for response in forward)
    assert kinds[ResponseKind.DELIVERED] + kinds[ResponseKind.BOUNCED] == 300
    assert kinds[ResponseKind.OPENED] > kinds[ResponseKind.REFERRAL_CLICKED] > kinds[ResponseKind.REFERRAL] > 0
    assert all(response.occurred_at > NOW for response in forward)
    assert len({response.external_id for response in forward}) == len(forward)
