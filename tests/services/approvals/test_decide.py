"""Approvals: listing, approving, rejecting and expiring requests that wait for a person."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.models import ApprovalDecision, AuditEntry, ReferralRequest
from referral_automation.services.approvals.decide import (
    ApprovalError,
    approve,
    expire_overdue_approvals,
    list_pending,
    reject,
)
from referral_automation.services.inspection.lookup import NotFoundError
from tests.support.factories import NOW, add_customer, add_request

FRIDAY_EVENING = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)  # 18:30 in Berlin
MONDAY_9_BERLIN = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 09:00 CET


def request_row(factory: sessionmaker[Session], request_id: str) -> ReferralRequest:
    with factory() as session:
        return session.scalars(select(ReferralRequest).where(ReferralRequest.id == request_id)).one()


def decisions(factory: sessionmaker[Session], request_id: str) -> list[tuple[str, str, datetime, str | None]]:
    with factory() as session:
        rows = session.scalars(
            select(ApprovalDecision)
            .where(ApprovalDecision.referral_request_id == request_id)
            .order_by(ApprovalDecision.id)
        )
        return [(r.decision, r.decided_by, r.decided_at, r.note) for r in rows]


def audit(factory: sessionmaker[Session], request_id: str) -> list[AuditEntry]:
    with factory() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.subject_id == request_id).order_by(AuditEntry.id))
        )


def count(factory: sessionmaker[Session], model: type[ApprovalDecision] | type[AuditEntry]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --------------------------------------------------------------------------------------------- list
def test_list_pending_shows_the_customer_and_the_soonest_to_expire_first(factory: sessionmaker[Session]) -> None:
    """It lists only pending requests, with the customer's name, company, plan and value, soonest expiry first."""
    add_customer(factory, "c1")
    add_customer(
        factory, "c2", first_name="Grace", last_name="Hopper", company="Navy", plan="pro", lifetime_value="90000"
    )
    later = add_request(factory, "c1", expires_in=timedelta(days=10))
    sooner = add_request(factory, "c2", expires_in=timedelta(days=2), variant="direct_ask", incentive="donation")
    add_request(factory, "c1", status="scheduled")
    add_request(factory, "c2", status="approved")

    pending = list_pending(factory)

    assert [p.id for p in pending] == [sooner, later]
    first = pending[0]
    assert (first.customer_id, first.customer_name, first.company, first.plan) == ("c2", "Grace Hopper", "Navy", "pro")
    assert first.lifetime_value == 90000
    assert (first.campaign, first.variant, first.incentive) == ("customer_referral", "direct_ask", "donation")
    assert first.reason == "plan 'enterprise' needs approval"
    assert first.expires_at == NOW + timedelta(days=2)
    assert first.created_at == NOW - timedelta(days=1)
    assert first.as_json(NOW)["overdue"] is False
    assert first.as_json(NOW + timedelta(days=3))["overdue"] is True


def test_list_pending_is_empty_without_pending_requests(factory: sessionmaker[Session]) -> None:
    """It lists nothing when no request waits for a decision."""
    add_customer(factory)
    add_request(factory, status="sent")
    assert list_pending(factory) == []


# --------------------------------------------------------------------------------------------- approve
def test_approve_schedules_at_the_next_opening_in_the_customers_zone(
    factory: sessionmaker[Session], config: AppConfig
) -> None:
    """It approves a pending request and moves it to the send window's next opening in the customer's zone."""
    add_customer(factory, timezone="Europe/Berlin")
    request_id = add_request(factory)

    result = approve(factory, request_ref=request_id, by="Maria", note="  good fit ", now=FRIDAY_EVENING, config=config)

    assert (result.status, result.decision, result.decided_by, result.note) == (
        "approved",
        "approved",
        "Maria",
        "good fit",
    )
    assert result.scheduled_for == MONDAY_9_BERLIN
    assert result.zone_warning is None
    row = request_row(factory, request_id)
    assert (row.status, row.scheduled_for, row.updated_at) == ("approved", MONDAY_9_BERLIN, FRIDAY_EVENING)
    assert decisions(factory, request_id) == [("approved", "Maria", FRIDAY_EVENING, "good fit")]
    (entry,) = audit(factory, request_id)
    assert (entry.actor, entry.action, entry.subject_type, entry.at) == (
        "Maria",
        "approval_approved",
        "referral_request",
        FRIDAY_EVENING,
    )
    assert entry.details == {"note": "good fit", "scheduled_for": MONDAY_9_BERLIN.isoformat()}


def test_approve_inside_the_window_schedules_now(factory: sessionmaker[Session], config: AppConfig) -> None:
    """It schedules an approval made inside the customer's send window for that very moment."""
    add_customer(factory, timezone="Europe/Berlin")
    request_id = add_request(factory)
    assert approve(factory, request_ref=request_id, by="Maria", now=NOW, config=config).scheduled_for == NOW


def test_approve_reads_the_window_in_tokyo_time(factory: sessionmaker[Session], config: AppConfig) -> None:
    """It reads the send window in the customer's own zone: 19:00 in Tokyo waits for 09:00 there."""
    add_customer(factory, timezone="Asia/Tokyo")
    request_id = add_request(factory)
    result = approve(factory, request_ref=request_id, by="Maria", now=NOW, config=config)
    assert result.scheduled_for == datetime(2026, 3, 5, 0, 0, tzinfo=UTC)


def test_approve_with_an_unknown_zone_uses_utc_and_says_so(factory: sessionmaker[Session], config: AppConfig) -> None:
    """It falls back to UTC for a customer whose time zone is unknown, and audits the warning."""
    add_customer(factory, timezone="Mars/Olympus_Mons")
    request_id = add_request(factory)
    result = approve(factory, request_ref=request_id, by="Maria", now=FRIDAY_EVENING, config=config)
    assert result.scheduled_for == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    assert result.zone_warning == "unknown time zone 'Mars/Olympus_Mons': using UTC"
    assert audit(factory, request_id)[0].details["zone_warning"] == result.zone_warning


def test_approve_by_an_unambiguous_prefix(factory: sessionmaker[Session], config: AppConfig) -> None:
    """It accepts the first 8 characters of the id (or more) instead of the whole id."""
    add_customer(factory)
    request_id = add_request(factory)
    add_request(factory)
    result = approve(factory, request_ref=request_id[:8], by="Maria", now=NOW, config=config)
    assert result.request_id == request_id


REF_CASES = [
    ("too-short", "aaaaaaa", "give at least 8 characters of the request id, not 'aaaaaaa'"),
    ("unknown", "ffffffff", "no referral request has an id starting with 'ffffffff'"),
    ("ambiguous", "aaaaaaaa", "'aaaaaaaa' is ambiguous: it starts the ids aaaaaaaa-0000-5000-8000-000000000001, "
     "aaaaaaaa-0000-5000-8000-000000000002; give more characters"),
    ("like-wildcards-are-literal", "aaaaaaa%", "no referral request has an id starting with 'aaaaaaa%'"),
    ("underscore-is-literal", "aaaaaaa_", "no referral request has an id starting with 'aaaaaaa_'"),
]  # fmt: skip


@pytest.mark.parametrize(("ref", "message"), [c[1:] for c in REF_CASES], ids=[c[0] for c in REF_CASES])
def test_a_bad_id_is_refused_and_nothing_changes(
    factory: sessionmaker[Session], config: AppConfig, ref: str, message: str
) -> None:
    """It refuses an id that is too short, unknown or ambiguous, and decides nothing."""
    add_customer(factory)
    add_request(factory, request_id="aaaaaaaa-0000-5000-8000-000000000001")
    add_request(factory, request_id="aaaaaaaa-0000-5000-8000-000000000002")
    with pytest.raises(NotFoundError) as caught:
        approve(factory, request_ref=ref, by="Maria", now=NOW, config=config)
    assert str(caught.value) == message
    assert count(factory, ApprovalDecision) == 0


def test_a_longer_prefix_resolves_an_ambiguity(factory: sessionmaker[Session]) -> None:
    """It decides on the one request a longer prefix names."""
    add_customer(factory)
    first = add_request(factory, request_id="bbbbbbbb-1111-5000-8000-000000000001")
    second = add_request(factory, request_id="bbbbbbbb-2222-5000-8000-000000000002")
    assert reject(factory, request_ref="bbbbbbbb-2", by="Maria", now=NOW).request_id == second
    assert request_row(factory, first).status == "pending_approval"


@pytest.mark.parametrize("status", ["approved", "rejected", "expired", "scheduled", "sent", "cancelled"])
def test_only_a_pending_request_can_be_decided(factory: sessionmaker[Session], config: AppConfig, status: str) -> None:
    """It refuses to decide on a request that is not pending approval, and changes nothing."""
    add_customer(factory)
    request_id = add_request(factory, status=status)
    for decide in (
        lambda: approve(factory, request_ref=request_id, by="Maria", now=NOW, config=config),
        lambda: reject(factory, request_ref=request_id, by="Maria", now=NOW),
    ):
        with pytest.raises(ApprovalError) as caught:
            decide()
        assert str(caught.value) == f"request {request_id} is {status}, not pending approval"
    assert request_row(factory, request_id).status == status
    assert decisions(factory, request_id) == []
    assert audit(factory, request_id) == []


@pytest.mark.parametrize("overdue_by", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_deciding_on_an_expired_request_fails_and_expires_it(
    factory: sessionmaker[Session], config: AppConfig, overdue_by: timedelta
) -> None:
    """It refuses a decision at or after approval_expires_at and records the request as expired."""
    add_customer(factory)
    request_id = add_request(factory, expires_in=timedelta(days=2))
    now = NOW + timedelta(days=2) + overdue_by
    with pytest.raises(ApprovalError, match="expired at 2026-03-06 10:00 UTC without a decision"):
        approve(factory, request_ref=request_id, by="Maria", now=now, config=config)
    assert request_row(factory, request_id).status == "expired"
    assert decisions(factory, request_id) == [("expired", "system", now, "no decision by 2026-03-06 10:00 UTC")]
    assert [(e.actor, e.action) for e in audit(factory, request_id)] == [("system", "approval_expired")]
    with pytest.raises(ApprovalError, match="is expired, not pending approval"):
        reject(factory, request_ref=request_id, by="Maria", now=now)


def test_a_second_before_expiry_is_still_in_time(factory: sessionmaker[Session]) -> None:
    """It accepts a decision made just before the approval window closes."""
    add_customer(factory)
    request_id = add_request(factory, expires_in=timedelta(days=2))
    now = NOW + timedelta(days=2) - timedelta(seconds=1)
    assert reject(factory, request_ref=request_id, by="Maria", now=now).status == "rejected"


def test_approving_a_request_of_a_campaign_no_longer_configured_fails(
    factory: sessionmaker[Session], config: AppConfig
) -> None:
    """It refuses to approve a request whose campaign is gone from the config, and changes nothing."""
    add_customer(factory)
    request_id = add_request(factory, campaign="old_program")
    with pytest.raises(ApprovalError, match="campaign 'old_program', which is not configured"):
        approve(factory, request_ref=request_id, by="Maria", now=NOW, config=config)
    assert request_row(factory, request_id).status == "pending_approval"
    assert decisions(factory, request_id) == []


@pytest.mark.parametrize("by", ["", "   "])
def test_a_decision_needs_a_name(factory: sessionmaker[Session], by: str) -> None:
    """It refuses a decision by nobody."""
    add_customer(factory)
    request_id = add_request(factory)
    with pytest.raises(ApprovalError, match="say who decides"):
        reject(factory, request_ref=request_id, by=by, now=NOW)
    assert request_row(factory, request_id).status == "pending_approval"


# --------------------------------------------------------------------------------------------- reject
def test_reject_records_who_when_and_why(factory: sessionmaker[Session]) -> None:
    """It rejects a pending request, keeps its schedule, and stores the decision and an audit entry."""
    add_customer(factory)
    request_id = add_request(factory)
    before = request_row(factory, request_id).scheduled_for

    result = reject(factory, request_ref=request_id, by="Maria", note="renewal talks", now=NOW)

    assert (result.status, result.scheduled_for, result.note) == ("rejected", None, "renewal talks")
    row = request_row(factory, request_id)
    assert (row.status, row.scheduled_for) == ("rejected", before)
    assert decisions(factory, request_id) == [("rejected", "Maria", NOW, "renewal talks")]
    (entry,) = audit(factory, request_id)
    assert (entry.actor, entry.action, entry.details) == ("Maria", "approval_rejected", {"note": "renewal talks"})


def test_a_blank_note_is_no_note(factory: sessionmaker[Session]) -> None:
    """It stores no note when the note is blank."""
    add_customer(factory)
    request_id = add_request(factory)
    reject(factory, request_ref=request_id, by="Maria", note="  ", now=NOW)
    assert decisions(factory, request_id) == [("rejected", "Maria", NOW, None)]


# --------------------------------------------------------------------------------------------- concurrency
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_people_deciding_at_once_make_one_decision(
    factory: sessionmaker[Session], config: AppConfig, second: str
) -> None:
    """It lets exactly one of two simultaneous decisions through and refuses the other."""
    add_customer(factory)
    request_id = add_request(factory)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(kind: str, who: str) -> None:
        start.wait()
        try:
            if kind == "approve":
                approve(factory, request_ref=request_id, by=who, now=NOW, config=config)
            else:
                reject(factory, request_ref=request_id, by=who, now=NOW)
            outcomes.append("decided")
        except ApprovalError as error:
            outcomes.append(str(error))

    threads = [
        threading.Thread(target=decide, args=("approve", "Maria")),
        threading.Thread(target=decide, args=(second, "Joe")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes)[0] == "decided"
    assert sorted(outcomes)[1].endswith("not pending approval")
    assert len(decisions(factory, request_id)) == 1
    assert len(audit(factory, request_id)) == 1


# --------------------------------------------------------------------------------------------- expiry
def test_expire_overdue_approvals(factory: sessionmaker[Session]) -> None:
    """It expires every pending request whose window has closed, each with a system decision, and only those."""
    add_customer(factory)
    overdue = [add_request(factory, expires_in=timedelta(days=-d)) for d in (0, 1, 2, 3, 4)]
    in_time = add_request(factory, expires_in=timedelta(seconds=1))
    already_approved = add_request(factory, status="approved", expires_in=timedelta(days=-5))
    never_expires = add_request(factory, expires_in=None)

    assert expire_overdue_approvals(factory, now=NOW, batch_size=2) == 5

    for request_id in overdue:
        assert request_row(factory, request_id).status == "expired"
        ((decision, by, at, _),) = decisions(factory, request_id)
        assert (decision, by, at) == ("expired", "system", NOW)
        assert [(e.actor, e.action) for e in audit(factory, request_id)] == [("system", "approval_expired")]
    assert request_row(factory, in_time).status == "pending_approval"
    assert request_row(factory, already_approved).status == "approved"
    assert request_row(factory, never_expires).status == "pending_approval"
    assert decisions(factory, in_time) == decisions(factory, already_approved) == []


def test_expiring_again_changes_nothing(factory: sessionmaker[Session]) -> None:
    """It expires a request once: a second run finds nothing to do."""
    add_customer(factory)
    add_request(factory, expires_in=timedelta(days=-1))
    assert expire_overdue_approvals(factory, now=NOW) == 1
    assert expire_overdue_approvals(factory, now=NOW + timedelta(days=1)) == 0
    assert count(factory, ApprovalDecision) == 1
