"""Every guard's verdict on a moment of truth now, with its reason and when a block ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from referral_automation.config import ConsentGuard, Guards
from referral_automation.domain.explain import explain
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate
from referral_automation.domain.guards import GuardContext

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
GUARDS = Guards.model_validate(
    {"detractor": {"signals": [{"event": "nps_submitted", "when": {"property": "score", "lte": 6}}]}}
)


def context(*, opt_in: bool = True, days: int = 400, last: datetime | None = None, events: int = 0) -> GuardContext:
    customer = CustomerFacts("ada", "ada@example.com", first_purchase_at=NOW - timedelta(days=days),
                             marketing_opt_in=opt_in)  # fmt: skip
    recent = [EventFacts(f"e{i}", "ada", "nps_submitted", NOW - timedelta(days=2), {"score": 3}) for i in range(events)]
    return GuardContext(MomentCandidate("ada", "nps_promoter", "now", NOW, 30, "c"), customer, recent, last, NOW)


def test_every_guard_passes_with_its_reason() -> None:
    """It says why each guard passes."""
    assert [(line.guard, line.passed, line.detail) for line in explain(GUARDS, context())] == [
        ("consent", True, "opted in to marketing email, address not suppressed"),
        ("tenure", True, "400 days since the first purchase (at least 90)"),
        ("cooldown", True, "never asked before"),
        ("detractor", True, "no detractor signal in the 30 days before"),
    ]


def test_each_block_says_why_and_until_when() -> None:
    """It reports every blocking guard, not only the first, with the day tenure and the cool-down let go."""
    lines = explain(GUARDS, context(opt_in=False, days=30, last=NOW - timedelta(days=10), events=1))
    assert [(line.guard, line.passed, line.until) for line in lines] == [
        ("consent", False, None),
        ("tenure", False, NOW + timedelta(days=60)),
        ("cooldown", False, NOW + timedelta(days=80)),
        ("detractor", False, None),
    ]
    assert lines[3].detail == "detractor signal: nps_submitted e0 on 2026-03-02 (looks back 30 days)"


def test_a_guard_switched_off_says_so() -> None:
    """It marks a disabled guard as off, neither passing nor blocking."""
    guards = GUARDS.model_copy(update={"consent": ConsentGuard(enabled=False)})
    line = explain(guards, context(opt_in=False))[0]
    assert (line.guard, line.passed, line.detail) == ("consent", None, "switched off in triggers.yaml")


def test_a_cooldown_that_ended_says_when_they_were_last_asked() -> None:
    """It says when the customer was last asked once the cool-down is over."""
    line = explain(GUARDS, context(last=NOW - timedelta(days=120)))[2]
    assert (line.passed, line.detail) == (True, "last asked on 2025-11-04, more than 90 days ago")
