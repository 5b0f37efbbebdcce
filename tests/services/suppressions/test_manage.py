"""Suppressions by hand: checked addresses, one audit entry a change, bounces lifted only with force."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import AuditEntry, Suppression
from referral_automation.services.suppressions import (
    SuppressionError,
    add_suppressions,
    list_suppressions,
    remove_suppressions,
)
from tests.support.detect_factories import suppress
from tests.support.factories import NOW


def suppressed(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as session:
        return {row.email: row.reason for row in session.scalars(select(Suppression))}


def audit(factory: sessionmaker[Session]) -> list[tuple[str, str, str, dict[str, object]]]:
    with factory() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(row.actor, row.action, row.subject_id, row.details) for row in rows]


def test_adding_suppresses_each_address_once_and_audits_it(factory: sessionmaker[Session]) -> None:
    """It stores addresses casefolded (reason manual), keeps an existing suppression, and audits only changes."""
    suppress(factory, "bounced@example.com", reason="bounced")

    changes = add_suppressions(
        factory,
        ["Ada@Example.com", "ada@example.com", "bounced@example.com"],
        by="Maria",
        note="asked by phone",
        now=NOW,
    )

    assert [(c.email, c.changed) for c in changes] == [("ada@example.com", True), ("bounced@example.com", False)]
    assert changes[1].existing is not None
    assert changes[1].existing.reason == "bounced"
    assert suppressed(factory) == {"ada@example.com": "manual", "bounced@example.com": "bounced"}
    assert audit(factory) == [("Maria", "suppression_added", "ada@example.com", {"note": "asked by phone"})]


def test_a_bad_address_changes_nothing(factory: sessionmaker[Session]) -> None:
    """It refuses the whole change, naming every bad address, before writing anything."""
    with pytest.raises(SuppressionError) as caught:
        add_suppressions(factory, ["ok@example.com", "not-an-address", "a@b@c.com"], by="Maria", note=None, now=NOW)
    assert str(caught.value).startswith("'not-an-address' is not an email address (")
    assert "'a@b@c.com' is not an email address" in str(caught.value)
    assert suppressed(factory) == {}
    assert audit(factory) == []


def test_lifting_a_bounce_needs_force(factory: sessionmaker[Session]) -> None:
    """It lifts a manual suppression, refuses one the provider made unless forced (changing nothing), and
    audits each lift with what was lifted."""
    add_suppressions(factory, ["ada@example.com"], by="Maria", note=None, now=NOW)
    suppress(factory, "bob@example.com", reason="spam_reported")

    with pytest.raises(SuppressionError, match=r"bob@example\.com is suppressed: spam reported via test on 2026-03-04"):
        remove_suppressions(factory, ["ada@example.com", "bob@example.com"], by="Joe", note=None, now=NOW)
    assert set(suppressed(factory)) == {"ada@example.com", "bob@example.com"}

    changes = remove_suppressions(
        factory, ["ada@example.com", "bob@example.com", "eve@example.com"], by="Joe", note="asked", now=NOW, force=True
    )

    assert [(c.email, c.changed) for c in changes] == [
        ("ada@example.com", True), ("bob@example.com", True), ("eve@example.com", False)]  # fmt: skip
    assert suppressed(factory) == {}
    assert [entry[1:3] for entry in audit(factory)[1:]] == [
        ("suppression_removed", "ada@example.com"), ("suppression_removed", "bob@example.com")]  # fmt: skip
    assert audit(factory)[2][3] == {"note": "asked", "reason": "spam_reported", "source": "test"}


def test_the_list_is_newest_first_and_filters_by_reason(factory: sessionmaker[Session]) -> None:
    """It lists suppressions newest first, of one reason when asked, up to a limit."""
    suppress(factory, "old@example.com", reason="bounced")
    add_suppressions(factory, ["new@example.com"], by="Maria", note=None, now=NOW + timedelta(days=1))
    assert [v.email for v in list_suppressions(factory)] == ["new@example.com", "old@example.com"]
    assert [v.email for v in list_suppressions(factory, reason="bounced")] == ["old@example.com"]
    assert [v.email for v in list_suppressions(factory, limit=1)] == ["new@example.com"]
