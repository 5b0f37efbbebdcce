"""Referral requests as operators list them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db import sql
from referral_automation.services.inspection.requests import REQUEST_STATUSES, UnknownStatusError, list_requests
from tests.support.factories import NOW, add_decision, add_request


def test_requests_are_listed_newest_first(factory: sessionmaker[Session]) -> None:
    """It lists every request, the newest first."""
    old = add_request(
        factory, "c1", status="sent", created_at=NOW - timedelta(days=30), sent_at=NOW - timedelta(days=29)
    )
    new = add_request(factory, "c2", status="scheduled", created_at=NOW - timedelta(hours=1))
    middle = add_request(factory, "c1", status="pending_approval", created_at=NOW - timedelta(days=2))
    assert [r.id for r in list_requests(factory)] == [new, middle, old]


FILTER_CASES = [
    ("status", {"status": "sent"}, ["sent-c1", "sent-c2"]),
    ("customer", {"customer_id": "c2"}, ["sent-c2", "pending-c2"]),
    ("status-and-customer", {"status": "pending_approval", "customer_id": "c2"}, ["pending-c2"]),
    ("nothing-matches", {"status": "failed"}, []),
    ("unknown-customer", {"customer_id": "nobody"}, []),
    ("limit", {"limit": 2}, ["sent-c1", "sent-c2"]),
]


@pytest.mark.parametrize(("filters", "expected"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_requests_are_filtered(factory: sessionmaker[Session], filters: dict[str, object], expected: list[str]) -> None:
    """It narrows the list to one status, one customer, both, or the newest few."""
    made = {
        "pending-c2": add_request(factory, "c2", status="pending_approval", created_at=NOW - timedelta(days=3)),
        "sent-c2": add_request(factory, "c2", status="sent", created_at=NOW - timedelta(days=2)),
        "sent-c1": add_request(factory, "c1", status="sent", created_at=NOW - timedelta(days=1)),
    }
    names = {value: key for key, value in made.items()}
    assert [names[r.id] for r in list_requests(factory, **filters)] == expected  # type: ignore[arg-type]


def test_an_unknown_status_is_refused(factory: sessionmaker[Session]) -> None:
    """It refuses a status no request can have, naming the ones that exist."""
    with pytest.raises(UnknownStatusError) as caught:
        list_requests(factory, status="done")
    assert str(caught.value) == f"unknown status 'done' (one of: {', '.join(REQUEST_STATUSES)})"


def test_every_decision_is_shown_oldest_first(factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """It shows every decision on each request, in the order they were taken, whatever the batch size."""
    monkeypatch.setattr(sql, "IN_CHUNK", 2)
    first = add_request(factory, "c1", status="approved", created_at=NOW - timedelta(days=3))
    others = [add_request(factory, "c2", created_at=NOW - timedelta(days=d)) for d in (4, 5, 6)]
    add_decision(factory, first, "approved", by="Maria", at=NOW - timedelta(hours=1), note="go")
    add_decision(factory, first, "expired", by="system", at=NOW - timedelta(hours=2))
    add_decision(factory, others[2], "rejected", by="Joe", at=NOW)

    views = {view.id: view for view in list_requests(factory)}

    assert [(d.decision, d.decided_by, d.note) for d in views[first].decisions] == [
        ("expired", "system", None),
        ("approved", "Maria", "go"),
    ]
    assert views[first].last_decision is not None
    assert views[first].last_decision.summary() == "approved by Maria at 2026-03-04 09:00 UTC: go"
    assert [d.decision for d in views[others[2]].decisions] == ["rejected"]
    assert views[others[0]].decisions == ()
    assert views[others[0]].last_decision is None


def test_json_has_every_promised_field(factory: sessionmaker[Session]) -> None:
    """It gives each request as JSON with the fields CONTRACT.md promises plus approval and decisions."""
    request_id = add_request(
        factory, "c1", status="sent", created_at=NOW - timedelta(days=1), sent_at=NOW, followups_sent=1
    )
    add_decision(factory, request_id, "approved", by="Maria", at=NOW - timedelta(hours=20), note="ok")

    (view,) = list_requests(factory)
    document = view.as_json()

    assert document == {
        "id": request_id,
        "customer_id": "c1",
        "campaign": "customer_referral",
        "status": "sent",
        "variant": "gratitude",
        "incentive": "give50_get50",
        "code": view.code,
        "scheduled_for": (NOW - timedelta(days=1)).isoformat(),
        "sent_at": "2026-03-04T10:00:00+00:00",
        "followups_sent": 1,
        "approval_required": False,
        "approval_reason": None,
        "approval_expires_at": None,
        "created_at": (NOW - timedelta(days=1)).isoformat(),
        "decisions": [
            {"decision": "approved", "decided_by": "Maria", "decided_at": "2026-03-03T14:00:00+00:00", "note": "ok"}
        ],
    }
    assert len(view.code) >= 8
