"""The audit log as operators read it: newest first, filtered by time, subject, actor and action."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.shared import insert_audit
from referral_automation.services.inspection.audit import list_audit
from tests.support.factories import NOW


def add_entries(factory: sessionmaker[Session]) -> None:
    rows = [
        {"at": NOW - timedelta(days=days), "actor": actor, "action": action, "subject_type": kind,
         "subject_id": subject, "details": {"n": days}}
        for days, actor, action, kind, subject in [
            (10, "Maria", "approval_approved", "referral_request", "r1"),
            (3, "detect", "timezone_fallback", "customer", "c1"),
            (1, "Joe", "suppression_added", "email", "ada@example.com"),
            (0, "Maria", "approval_rejected", "referral_request", "r2"),
        ]
    ]  # fmt: skip
    with factory() as session, session.begin():
        insert_audit(session, rows)


def test_newest_first_with_filters(factory: sessionmaker[Session]) -> None:
    """It lists entries newest first, since a time, about one subject, by one actor, of one action, up to a limit."""
    add_entries(factory)

    def actions(**filters: object) -> list[str]:
        return [entry.action for entry in list_audit(factory, **filters)]  # type: ignore[arg-type]

    assert actions() == ["approval_rejected", "suppression_added", "timezone_fallback", "approval_approved"]
    assert actions(since=NOW - timedelta(days=3)) == ["approval_rejected", "suppression_added", "timezone_fallback"]
    assert actions(subject="ada@example.com") == ["suppression_added"]
    assert actions(actor="Maria") == ["approval_rejected", "approval_approved"]
    assert actions(action="timezone_fallback") == ["timezone_fallback"]
    assert actions(limit=1) == ["approval_rejected"]
    assert list_audit(factory, subject="c1")[0].details == {"n": 3}
