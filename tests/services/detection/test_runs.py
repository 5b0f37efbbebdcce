"""Detection across runs: re-runs, crashes, batch boundaries, time-based rules, config changes."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.models import AuditEntry, Customer, FlowState, Moment, ReferralRequest
from referral_automation.services.bandit.refresh import refresh_allocations
from referral_automation.services.detection import store as repositories
from referral_automation.services.detection.detect import decide_customers, detect_moments, event_horizon, scan_events
from tests.support.detect_factories import (
    NOW,
    SHIPPED_CONFIG,
    add_customer,
    add_event,
    rows,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def busy_workspace(factory: sessionmaker[Session]) -> None:
    """Five customers and nine events: requests, supersession, approval, blocks, non-moments."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "milestone_reached", at=NOW - 3 * HOUR, name="10 seats")
    add_event(factory, "ada", "nps_submitted", at=NOW - 2 * HOUR, score=10)
    add_customer(factory, "bob", tenure_days=30)
    add_event(factory, "bob", "nps_submitted", at=NOW - HOUR, score=9)
    add_customer(factory, "cyd", lifetime_value=90000)
    add_event(factory, "cyd", "ticket_resolved", at=NOW - HOUR, ticket_id="T1", csat=5)
    add_event(factory, "ada", "ticket_resolved", at=NOW - HOUR, ticket_id="T2", csat=4)
    add_customer(factory, "dan")
    add_event(factory, "dan", "purchase", at=NOW - HOUR, amount=12.5)
    add_event(factory, "dan", "nps_submitted", at=NOW - 5 * DAY, score=3)
    add_event(factory, "dan", "milestone_reached", at=NOW - HOUR, name="first integration")
    add_customer(factory, "eve", timezone="Asia/Tokyo")
    add_event(factory, "eve", "nps_submitted", at=NOW - 30 * HOUR, score=10)


def outcome_snapshot(factory: sessionmaker[Session]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Moments and requests without their random parts (codes and tokens)."""
    moments = [
        (m["id"], m["customer_id"], m["rule_id"], m["outcome"], m["blocked_by"])
        for m in rows(factory, Moment, Moment.id)
    ]
    requests = [
        (r["id"], r["customer_id"], r["moment_id"], r["status"], r["variant"], r["incentive"], r["scheduled_for"])
        for r in rows(factory, ReferralRequest, ReferralRequest.id)
    ]
    return moments, requests


def forget_detection(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        for model in (AuditEntry, ReferralRequest, Moment, FlowState):
            session.execute(delete(model))


def test_the_busy_workspace_gives_the_expected_requests(factory: sessionmaker[Session]) -> None:
    """It asks ada (promoter), cyd (pending approval) and eve, and blocks bob (tenure) and dan (detractor)."""
    busy_workspace(factory)

    report = detect_moments(factory, SHIPPED_CONFIG, now=NOW)

    assert report.as_dict() == {
        "events_scanned": 9,
        "candidates": 7,
        "requests_created": 3,
        "pending_approval": 1,
        "blocked": {"detractor": 1, "tenure": 1},
        "superseded": 2,
        "watermark": 9,
    }
    moments, requests = outcome_snapshot(factory)
    assert sorted((m[1], m[2], m[3], m[4]) for m in moments) == [
        ("ada", "delighted_support", "superseded", None),
        ("ada", "milestone", "superseded", None),
        ("ada", "nps_promoter", "requested", None),
        ("bob", "nps_promoter", "blocked", "tenure"),
        ("cyd", "delighted_support", "requested", None),
        ("dan", "milestone", "blocked", "detractor"),
        ("eve", "nps_promoter", "requested", None),
    ]
    assert sorted((r[1], r[3]) for r in requests) == [
        ("ada", "scheduled"),
        ("cyd", "pending_approval"),
        ("eve", "scheduled"),
    ]


def test_a_second_run_creates_nothing(factory: sessionmaker[Session]) -> None:
    """It finds no new moment and creates no request when run again on the same input."""
    busy_workspace(factory)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW)
    before = outcome_snapshot(factory)

    again = detect_moments(factory, SHIPPED_CONFIG, now=NOW + HOUR)

    assert again.as_dict() == {
        "events_scanned": 0,
        "candidates": 0,
        "requests_created": 0,
        "pending_approval": 0,
        "blocked": {},
        "superseded": 0,
        "watermark": 9,
    }
    assert outcome_snapshot(factory) == before


def test_a_later_moment_is_held_back_by_the_cool_down_of_this_run(factory: sessionmaker[Session]) -> None:
    """It blocks ada's next promoter score a day later: one request per customer, then the cool-down."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW)
    add_event(factory, "ada", "nps_submitted", at=NOW + DAY, score=10)

    report = detect_moments(factory, SHIPPED_CONFIG, now=NOW + DAY + HOUR)

    assert (report.requests_created, report.blocked) == (0, {"cooldown": 1})


def test_batches_of_two_give_the_same_outcome_as_one_batch(factory: sessionmaker[Session]) -> None:
    """It decides the same moments and requests whether events and customers come two at a time or all at once."""
    busy_workspace(factory)
    small = detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=2)
    in_twos = outcome_snapshot(factory)
    forget_detection(factory)

    large = detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=5000)

    assert outcome_snapshot(factory) == in_twos
    assert small == large


class CrashError(RuntimeError):
    pass


def test_a_crash_while_deciding_leaves_candidates_that_the_next_run_decides(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It keeps the scan's watermark and candidates after a crash in the decide step, and a re-run finishes the job."""
    busy_workspace(factory)

    def crash(*_: Any, **__: Any) -> Any:
        raise CrashError("connection lost")

    monkeypatch.setattr(repositories, "insert_requests", crash)
    with pytest.raises(CrashError):
        detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=2)
    assert rows(factory, FlowState, FlowState.name)[0]["position"] == 9
    assert {m["outcome"] for m in rows(factory, Moment, Moment.id)} == {"candidate"}
    assert rows(factory, ReferralRequest, ReferralRequest.id) == []
    monkeypatch.undo()

    resumed = detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=2)
    crashed_then_resumed = outcome_snapshot(factory)
    forget_detection(factory)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW)

    assert (resumed.events_scanned, resumed.requests_created) == (0, 3)
    assert crashed_then_resumed == outcome_snapshot(factory)


def test_a_crash_in_the_middle_of_the_scan_keeps_watermark_and_candidates_together(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It rolls back the batch that crashed with its watermark move, so a re-run scans it exactly once."""
    busy_workspace(factory)
    calls = {"n": 0}
    real_insert = repositories.count_new_moments

    def crash_on_second_batch(session: Session, batch: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise CrashError("killed")
        return real_insert(session, batch)

    monkeypatch.setattr(repositories, "count_new_moments", crash_on_second_batch)
    with pytest.raises(CrashError):
        detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=2)
    # The first batch (ada's milestone and promoter score) is in, with the watermark after it.
    assert rows(factory, FlowState, FlowState.name)[0]["position"] == 2
    assert [(m["customer_id"], m["rule_id"]) for m in rows(factory, Moment, Moment.priority)] == [
        ("ada", "milestone"),
        ("ada", "nps_promoter"),
    ]
    monkeypatch.undo()

    resumed = detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=2)
    crashed_then_resumed = outcome_snapshot(factory)
    forget_detection(factory)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW)

    assert (resumed.events_scanned, resumed.requests_created) == (7, 3)
    assert crashed_then_resumed == outcome_snapshot(factory)


def test_the_scan_stops_at_the_horizon_taken_when_the_run_began(factory: sessionmaker[Session]) -> None:
    """It leaves events that arrive after the run's horizon to the next run."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)
    horizon = event_horizon(factory)
    add_event(factory, "ada", "milestone_reached", at=NOW - HOUR, name="10 seats")

    scan = scan_events(factory, SHIPPED_CONFIG, now=NOW, horizon=horizon, batch_size=10)

    assert (scan.events_scanned, scan.watermark, scan.more) == (1, 1, False)


def test_a_candidate_whose_rule_was_switched_off_is_blocked_by_the_rule(factory: sessionmaker[Session]) -> None:
    """It blocks, naming the rule, a candidate left by a crash whose rule is no longer enabled."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "milestone_reached", at=NOW - HOUR, name="10 seats")
    scan_events(factory, SHIPPED_CONFIG, now=NOW, horizon=event_horizon(factory), batch_size=10)
    rules = [
        r.model_copy(update={"enabled": False}) if r.id == "milestone" else r for r in SHIPPED_CONFIG.triggers.rules
    ]
    without_milestones = SHIPPED_CONFIG.model_copy(
        update={"triggers": SHIPPED_CONFIG.triggers.model_copy(update={"rules": rules})}
    )

    allocations = refresh_allocations(factory, without_milestones, now=NOW)
    decision = decide_customers(factory, without_milestones, now=NOW, after="", batch_size=10, allocations=allocations)

    assert (decision.requests_created, decision.blocked) == (0, {"rule": 1})
    (moment,) = rows(factory, Moment, Moment.id)
    assert "milestone" in moment["reason"]


# --------------------------------------------------------------------------- time-based rules


def test_a_time_based_moment_is_requested_once(factory: sessionmaker[Session], settled_in_config: AppConfig) -> None:
    """It asks a customer 120 days after the first purchase, records the moment, and never again."""
    add_customer(factory, "ada", tenure_days=121)

    first = detect_moments(factory, settled_in_config, now=NOW)
    second = detect_moments(factory, settled_in_config, now=NOW + HOUR)

    assert (first.candidates, first.requests_created) == (1, 1)
    (moment,) = rows(factory, Moment, Moment.id)
    assert (moment["rule_id"], moment["source_key"], moment["event_seq"], moment["outcome"]) == (
        "settled_in",
        "time:settled_in",
        None,
        "requested",
    )
    assert moment["occurred_at"] == NOW - DAY
    assert (second.candidates, second.requests_created) == (0, 0)


def test_a_blocked_time_based_moment_is_evaluated_again_until_it_goes_stale(
    factory: sessionmaker[Session], settled_in_config: AppConfig
) -> None:
    """It leaves a blocked time moment unrecorded, asks once the customer opts in, and forgets stale ones."""
    add_customer(factory, "ada", tenure_days=121, opt_in=False)
    add_customer(factory, "old", tenure_days=130)  # its moment came 10 days ago: stale

    blocked = detect_moments(factory, settled_in_config, now=NOW)
    assert (blocked.candidates, blocked.blocked, blocked.requests_created) == (1, {"consent": 1}, 0)
    assert rows(factory, Moment, Moment.id) == []
    with factory() as session, session.begin():
        session.execute(update(Customer).where(Customer.customer_id == "ada").values(marketing_opt_in=True))

    opted_in = detect_moments(factory, settled_in_config, now=NOW + DAY)

    assert opted_in.requests_created == 1
    assert [m["customer_id"] for m in rows(factory, Moment, Moment.id)] == ["ada"]


def test_an_event_moment_outranks_a_time_based_one_that_is_recorded_as_superseded(
    factory: sessionmaker[Session], settled_in_config: AppConfig
) -> None:
    """It asks for the promoter score and records the time moment it superseded."""
    add_customer(factory, "ada", tenure_days=121)
    add_event(factory, "ada", "nps_submitted", at=NOW - HOUR, score=10)

    report = detect_moments(factory, settled_in_config, now=NOW)

    assert (report.candidates, report.requests_created, report.superseded) == (2, 1, 1)
    outcomes = {(m["rule_id"], m["outcome"]) for m in rows(factory, Moment, Moment.id)}
    assert outcomes == {("nps_promoter", "requested"), ("settled_in", "superseded")}


def test_concurrent_runs_scan_each_event_once_and_ask_each_customer_once(factory: sessionmaker[Session]) -> None:
    """It lets three overlapping runs share the work without a second request or a second scan of an event."""
    for i in range(40):
        customer_id = f"c{i:02d}"
        add_customer(factory, customer_id)
        add_event(factory, customer_id, "nps_submitted", at=NOW - 2 * HOUR, score=10)
        add_event(factory, customer_id, "milestone_reached", at=NOW - HOUR, name="10 seats")
    reports: list[Any] = []

    def run() -> None:
        reports.append(detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=3))

    runs = [threading.Thread(target=run) for _ in range(3)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=120)

    assert len(reports) == 3
    assert sum(r.events_scanned for r in reports) == 80
    assert sum(r.requests_created for r in reports) == 40
    moments, requests = outcome_snapshot(factory)
    assert sorted(r[1] for r in requests) == [f"c{i:02d}" for i in range(40)]
    assert (
        sorted((m[2], m[3]) for m in moments)
        == [("milestone", "superseded")] * 40 + [("nps_promoter", "requested")] * 40
    )
