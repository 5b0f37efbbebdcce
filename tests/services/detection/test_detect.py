"""Detection end to end through the service: the default behaviour of CONTRACT.md, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import AuditEntry, BanditAllocation, Moment, ReferralRequest
from referral_automation.domain import identity
from referral_automation.services.detection.detect import DetectionReport, detect_moments
from tests.support.detect_factories import (
    NOW,
    SHIPPED_CONFIG,
    add_customer,
    add_event,
    add_request,
    rows,
    suppress,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def detect(factory: sessionmaker[Session], *, now: datetime = NOW, batch_size: int = 5000) -> DetectionReport:
    return detect_moments(factory, SHIPPED_CONFIG, now=now, batch_size=batch_size)


def moments(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    return rows(factory, Moment, Moment.customer_id, Moment.priority.desc())


def requests(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    return [
        r for r in rows(factory, ReferralRequest, ReferralRequest.customer_id) if not r["id"].startswith("r-earlier")
    ]


def only_moment(factory: sessionmaker[Session]) -> dict[str, Any]:
    (moment,) = moments(factory)
    return moment


def test_a_promoter_score_creates_one_scheduled_request(factory: sessionmaker[Session]) -> None:
    """It turns an NPS of 10 into one scheduled request of the campaign, with deterministic ids and an arm."""
    add_customer(factory, "ada")
    event_id = add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    report = detect(factory)

    assert (report.events_scanned, report.candidates, report.requests_created) == (1, 1, 1)
    moment = only_moment(factory)
    assert moment["id"] == identity.moment_id("ada", "nps_promoter", event_id)
    assert (moment["rule_id"], moment["outcome"], moment["blocked_by"]) == ("nps_promoter", "requested", None)
    (request,) = requests(factory)
    campaign = SHIPPED_CONFIG.campaign("customer_referral")
    assert request["id"] == identity.request_id(moment["id"])
    assert request["moment_id"] == moment["id"]
    assert (request["campaign"], request["status"], request["approval_required"]) == (
        "customer_referral",
        "scheduled",
        False,
    )
    assert request["variant"] in {v.id for v in campaign.variants}
    assert request["incentive"] in {i.id for i in campaign.incentives}
    assert re.fullmatch(r"[A-Za-z0-9_\-]{8,}", request["code"])
    assert len(request["unsubscribe_token"]) >= 16
    assert request["unsubscribe_token"] != request["code"]
    assert request["scheduled_for"] == NOW  # Wednesday 11:00 in Berlin: the window is open
    assert request["created_at"] == request["updated_at"] == NOW


def test_each_request_logs_the_choice_of_its_campaigns_test(factory: sessionmaker[Session]) -> None:
    """It picks every new request's arm from the run's allocation and logs that allocation's version, the
    arm's probability in it and whether the holdout chose it."""
    for name in ("ada", "bob", "cyd", "dan"):
        add_customer(factory, name)
        add_event(factory, name, "nps_submitted", at=NOW - HOUR, score=10)

    detect(factory)

    with factory() as session:
        allocations = {a.version: a for a in session.scalars(select(BanditAllocation))}
    made = requests(factory)
    assert len(made) == 4
    for request in made:
        allocation = allocations[request["model_version"]]
        probability = {(v, i): p for v, i, p, _best in allocation.arms}[(request["variant"], request["incentive"])]
        assert request["arm_propensity"] == pytest.approx(probability)
        assert request["from_holdout"] in (True, False)


@pytest.mark.parametrize(
    ("kind", "properties", "rule"),
    [
        ("ticket_resolved", {"ticket_id": "T1", "csat": 4}, "delighted_support"),
        ("milestone_reached", {"name": "100th invoice sent"}, "milestone"),
    ],
)
def test_a_delighted_ticket_or_a_milestone_creates_a_request(
    factory: sessionmaker[Session], kind: str, properties: dict[str, Any], rule: str
) -> None:
    """It asks after a ticket resolved with CSAT 4 and after a milestone."""
    add_customer(factory, "ada")
    add_event(factory, "ada", kind, at=NOW - HOUR, **properties)

    assert detect(factory).requests_created == 1
    assert (only_moment(factory)["rule_id"], only_moment(factory)["outcome"]) == (rule, "requested")


def test_a_passive_score_is_not_a_moment(factory: sessionmaker[Session]) -> None:
    """It records nothing for an NPS of 8 and still moves past the event."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=8)

    report = detect(factory)

    assert (report.events_scanned, report.candidates, report.requests_created, report.watermark) == (1, 0, 0, 1)
    assert moments(factory) == []
    assert requests(factory) == []


def _blocked(factory: sessionmaker[Session], guard: str) -> str:
    report = detect(factory)
    assert report.requests_created == 0
    assert report.blocked == {guard: 1}
    moment = only_moment(factory)
    assert (moment["outcome"], moment["blocked_by"]) == ("blocked", guard)
    assert requests(factory) == []
    reason: str = moment["reason"]
    return reason


def test_a_customer_of_89_days_is_blocked_by_tenure(factory: sessionmaker[Session]) -> None:
    """It records the tenure guard when the first purchase is less than 90 days before the moment."""
    add_customer(factory, "ada", tenure_days=89)
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    assert "tenure is 88 days" in _blocked(factory, "tenure")


def test_a_customer_who_did_not_opt_in_is_blocked_by_consent(factory: sessionmaker[Session]) -> None:
    """It never asks a customer without marketing consent."""
    add_customer(factory, "ada", opt_in=False)
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    assert "opted in" in _blocked(factory, "consent")


def test_a_suppressed_address_is_blocked_by_consent_whatever_its_case(factory: sessionmaker[Session]) -> None:
    """It treats an address on the suppression list (compared case-insensitively) as no consent."""
    add_customer(factory, "ada", email="Ada@Example.com")
    suppress(factory, "ada@example.com", reason="bounced")
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    assert "suppressed" in _blocked(factory, "consent")


@pytest.mark.parametrize(("days_before", "blocked"), [(20, True), (31, False)])
def test_a_detractor_score_in_the_30_days_before_blocks(
    factory: sessionmaker[Session], days_before: int, blocked: bool
) -> None:
    """It blocks a moment preceded by an NPS of 5 within 30 days, and not one preceded by an older one."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - days_before * DAY, score=5)
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    if blocked:
        assert "nps_submitted" in _blocked(factory, "detractor")
    else:
        assert detect(factory).requests_created == 1


def test_an_unresolved_ticket_blocks(factory: sessionmaker[Session]) -> None:
    """It blocks a moment while a ticket opened before it is still unresolved."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "ticket_opened", at=NOW - 3 * DAY, ticket_id="T9")
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    assert "ticket_opened" in _blocked(factory, "detractor")


def test_a_resolved_ticket_with_a_middling_csat_does_not_block(factory: sessionmaker[Session]) -> None:
    """It asks when the earlier ticket was resolved with CSAT 3 (neither a moment nor a detractor)."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "ticket_opened", at=NOW - 5 * DAY, ticket_id="T9")
    add_event(factory, "ada", "ticket_resolved", at=NOW - 2 * DAY, ticket_id="T9", csat=3)
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    report = detect(factory)

    assert (report.candidates, report.requests_created) == (1, 1)
    assert only_moment(factory)["rule_id"] == "nps_promoter"


@pytest.mark.parametrize(("status", "blocked"), [("sent", True), ("pending_approval", True), ("rejected", False)])
def test_an_earlier_request_within_90_days_blocks_unless_nobody_was_asked(
    factory: sessionmaker[Session], status: str, blocked: bool
) -> None:
    """It applies the cool-down after an earlier request, but not after one that was rejected."""
    add_customer(factory, "ada")
    add_request(factory, "ada", created_at=NOW - 60 * DAY, status=status)
    add_event(factory, "ada", "milestone_reached", at=NOW - HOUR, name="10 seats")

    report = detect(factory)

    assert report.requests_created == (0 if blocked else 1)
    assert report.blocked == ({"cooldown": 1} if blocked else {})


def test_a_moment_older_than_7_days_is_stale(factory: sessionmaker[Session]) -> None:
    """It counts a moment of 8 days ago as blocked by staleness and records no row for it."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - 8 * DAY, score=10)

    report = detect(factory)

    assert (report.candidates, report.requests_created, report.blocked) == (0, 0, {"staleness": 1})
    assert moments(factory) == []
    assert requests(factory) == []


def test_a_moment_of_7_days_ago_is_still_fresh(factory: sessionmaker[Session]) -> None:
    """It asks for a moment just inside the staleness age."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - 7 * DAY + HOUR, score=10)

    report = detect(factory)

    assert (report.candidates, report.requests_created, report.blocked) == (1, 1, {})


def test_a_moment_dated_in_the_future_is_blocked_by_staleness(factory: sessionmaker[Session]) -> None:
    """It does not ask for a moment from the future (a source's clock is wrong); it counts it."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW + DAY, score=10)

    report = detect(factory)

    assert (report.requests_created, report.blocked) == (0, {"staleness": 1})
    assert moments(factory) == []


def test_several_moments_give_one_request_for_the_highest_priority(factory: sessionmaker[Session]) -> None:
    """It asks once, for the promoter score, and records the other moments as superseded."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "milestone_reached", at=NOW - HOUR, name="10 seats")
    add_event(factory, "ada", "nps_submitted", at=NOW - 3 * HOUR, score=9)
    add_event(factory, "ada", "ticket_resolved", at=NOW - 2 * HOUR, ticket_id="T1", csat=5)

    report = detect(factory)

    assert (report.candidates, report.requests_created, report.superseded) == (3, 1, 2)
    outcomes = [(m["rule_id"], m["outcome"]) for m in moments(factory)]
    assert outcomes == [("nps_promoter", "requested"), ("delighted_support", "superseded"), ("milestone", "superseded")]
    (request,) = requests(factory)
    assert request["moment_id"] == moments(factory)[0]["id"]


def test_a_blocked_best_moment_leaves_the_next_one_to_ask(factory: sessionmaker[Session]) -> None:
    """It falls back to the milestone when the promoter score is stale."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - 9 * DAY, score=10)
    add_event(factory, "ada", "milestone_reached", at=NOW - HOUR, name="10 seats")

    report = detect(factory)

    assert (report.requests_created, report.blocked, report.superseded) == (1, {"staleness": 1}, 0)
    outcomes = [(m["rule_id"], m["outcome"], m["blocked_by"]) for m in moments(factory)]
    assert outcomes == [("milestone", "requested", None)]


@pytest.mark.parametrize(
    ("customer", "reason"),
    [({"lifetime_value": 60000}, "lifetime value 60,000"), ({"plan": "Enterprise"}, "plan 'Enterprise'")],
)
def test_valuable_customers_wait_for_approval(
    factory: sessionmaker[Session], customer: dict[str, Any], reason: str
) -> None:
    """It creates a high-LTV or enterprise customer's request as pending approval, expiring in 14 days."""
    add_customer(factory, "ada", **customer)
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    report = detect(factory)

    assert (report.requests_created, report.pending_approval) == (1, 1)
    (request,) = requests(factory)
    assert (request["status"], request["approval_required"]) == ("pending_approval", True)
    assert reason in request["approval_reason"]
    assert request["approval_expires_at"] == NOW + 14 * DAY


def test_a_friday_evening_moment_is_scheduled_for_monday_morning_in_the_customer_zone(
    factory: sessionmaker[Session],
) -> None:
    """It schedules for Monday 09:00 in New York, across the change to daylight saving time."""
    friday_evening = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)  # 18:00 EST
    add_customer(factory, "ada", timezone="America/New_York", at=friday_evening)
    add_event(factory, "ada", "nps_submitted", at=friday_evening - HOUR, score=10)

    detect(factory, now=friday_evening)

    (request,) = requests(factory)
    assert request["scheduled_for"] == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT


def test_an_unknown_zone_falls_back_to_utc_with_an_audit_warning(factory: sessionmaker[Session]) -> None:
    """It schedules in UTC for a customer whose zone does not exist and records the fallback."""
    late_afternoon = datetime(2026, 3, 4, 16, 30, tzinfo=UTC)  # open in UTC, closed in Berlin
    add_customer(factory, "ada", timezone="Mars/Olympus_Mons", at=late_afternoon)
    add_event(factory, "ada", "nps_submitted", at=late_afternoon - HOUR, score=10)

    detect(factory, now=late_afternoon)

    (request,) = requests(factory)
    assert request["scheduled_for"] == late_afternoon
    (entry,) = rows(factory, AuditEntry, AuditEntry.id)
    assert (entry["actor"], entry["action"], entry["subject_type"], entry["subject_id"]) == (
        "detect",
        "timezone_fallback",
        "customer",
        "ada",
    )
    assert "Mars/Olympus_Mons" in entry["details"]["warning"]
    assert entry["details"]["referral_request_id"] == request["id"]


def test_a_customer_in_a_closed_window_waits_for_the_next_opening(factory: sessionmaker[Session]) -> None:
    """It schedules a Tokyo customer detected at 19:00 local time for 09:00 the next morning."""
    add_customer(factory, "ada", timezone="Asia/Tokyo")  # NOW is 19:00 in Tokyo
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    detect(factory)

    (request,) = requests(factory)
    assert request["scheduled_for"] == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
