"""Guards: each check at the moment's time, their order, and switching them off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from referral_automation.config import Guards
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate
from referral_automation.domain.guards import CLOCK_SKEW, GuardContext, compile_guards

MOMENT_AT = datetime(2025, 6, 4, 10, 0, tzinfo=UTC)

#: The guards of the shipped triggers.yaml (CONTRACT.md "Default behaviour"), written out so these
#: tests do not change when the shipped file does.
DEFAULT_GUARDS = Guards.model_validate(
    {
        "staleness": {"max_age_days": 7},
        "consent": {"require_opt_in": True, "check_suppressions": True},
        "tenure": {"min_days": 90},
        "cooldown": {"days": 90},
        "detractor": {
            "lookback_days": 30,
            "signals": [
                {"event": "nps_submitted", "when": {"property": "score", "lte": 6}},
                {"event": "ticket_resolved", "when": {"property": "csat", "lte": 2}},
                {"event": "ticket_opened", "unresolved_by": "ticket_resolved", "match_property": "ticket_id"},
            ],
        },
    }
)

HAPPY_CUSTOMER = CustomerFacts(
    customer_id="c1",
    email="ada@example.com",
    first_purchase_at=MOMENT_AT - timedelta(days=365),
    marketing_opt_in=True,
)

_counter = iter(range(1, 10**6))


def event(type_: str, at: datetime, **properties: Any) -> EventFacts:
    n = next(_counter)
    return EventFacts(event_id=f"e{n}", customer_id="c1", type=type_, occurred_at=at, properties=properties, seq=n)


MOMENT_EVENT = event("nps_submitted", MOMENT_AT, score=10)


def moment(source: EventFacts | None = MOMENT_EVENT, at: datetime = MOMENT_AT) -> MomentCandidate:
    return MomentCandidate(
        customer_id="c1",
        rule_id="nps_promoter" if source else "settled_in",
        source_key=source.event_id if source else "time:settled_in",
        occurred_at=source.occurred_at if source else at,
        priority=30,
        campaign="customer_referral",
        event_seq=source.seq if source else None,
        event_id=source.event_id if source else None,
    )


def context(
    *,
    customer: CustomerFacts = HAPPY_CUSTOMER,
    candidate: MomentCandidate | None = None,
    events: Sequence[EventFacts] = (),
    last_request_at: datetime | None = None,
    now: datetime = MOMENT_AT + timedelta(hours=1),
) -> GuardContext:
    candidate = candidate or moment()
    own = [MOMENT_EVENT] if candidate.event_id == MOMENT_EVENT.event_id else []
    return GuardContext(
        moment=candidate, customer=customer, recent_events=[*events, *own], last_request_at=last_request_at, now=now
    )


def verdict(ctx: GuardContext, guards: Guards = DEFAULT_GUARDS) -> tuple[bool, str | None]:
    result = compile_guards(guards)(ctx)
    return result.passed, result.guard


def test_a_happy_customer_passes_every_guard() -> None:
    """It lets a moment through when every guard passes."""
    result = compile_guards(DEFAULT_GUARDS)(context())
    assert result.passed
    assert result.guard is None
    assert result.reason is None


STALENESS_CASES = [
    ("just-now", timedelta(0), True),
    ("six-days", timedelta(days=6, hours=23), True),
    ("exactly-seven-days", timedelta(days=7), True),
    ("seven-days-and-a-second", timedelta(days=7, seconds=1), False),
    ("a-month", timedelta(days=30), False),
    ("future-within-clock-skew", -CLOCK_SKEW, True),
    ("future-beyond-clock-skew", -CLOCK_SKEW - timedelta(seconds=1), False),
    ("a-day-in-the-future", timedelta(days=-1), False),
]


@pytest.mark.parametrize(("age", "passes"), [c[1:] for c in STALENESS_CASES], ids=[c[0] for c in STALENESS_CASES])
def test_staleness(age: timedelta, passes: bool) -> None:
    """It blocks moments older than max_age_days when detected, and moments in the future beyond clock skew."""
    assert verdict(context(now=MOMENT_AT + age)) == ((True, None) if passes else (False, "staleness"))


def test_staleness_says_why() -> None:
    """It explains a stale moment by its age and a future one by its time."""
    old = compile_guards(DEFAULT_GUARDS)(context(now=MOMENT_AT + timedelta(days=9)))
    future = compile_guards(DEFAULT_GUARDS)(context(now=MOMENT_AT - timedelta(hours=1)))
    assert old.reason == "the moment is 9 days old (at most 7 allowed)"
    assert future.reason is not None
    assert "in the future" in future.reason


CONSENT_CASES = [
    ("opted-in", {"marketing_opt_in": True}, {}, True),
    ("not-opted-in", {"marketing_opt_in": False}, {}, False),
    ("suppressed", {"suppressed": True}, {}, False),
    ("not-opted-in-but-opt-in-not-required", {"marketing_opt_in": False}, {"require_opt_in": False}, True),
    ("suppressed-but-suppressions-unchecked", {"suppressed": True}, {"check_suppressions": False}, True),
    ("suppressed-opt-in-not-required", {"suppressed": True}, {"require_opt_in": False}, False),
]


@pytest.mark.parametrize(
    ("fields", "settings", "passes"), [c[1:] for c in CONSENT_CASES], ids=[c[0] for c in CONSENT_CASES]
)
def test_consent(fields: dict[str, Any], settings: dict[str, Any], passes: bool) -> None:
    """It needs the marketing opt-in and an address that is not suppressed, as configured."""
    guards = DEFAULT_GUARDS.model_copy(update={"consent": DEFAULT_GUARDS.consent.model_copy(update=settings)})
    ctx = context(customer=replace(HAPPY_CUSTOMER, **fields))
    assert verdict(ctx, guards) == ((True, None) if passes else (False, "consent"))


TENURE_CASES = [
    ("no-first-purchase", None, False),
    ("a-year", timedelta(days=365), True),
    ("exactly-90-days", timedelta(days=90), True),
    ("a-second-short-of-90-days", timedelta(days=90) - timedelta(seconds=1), False),
    ("89-days", timedelta(days=89), False),
    ("first-purchase-after-the-moment", timedelta(days=-1), False),
]


@pytest.mark.parametrize(("tenure", "passes"), [c[1:] for c in TENURE_CASES], ids=[c[0] for c in TENURE_CASES])
def test_tenure(tenure: timedelta | None, passes: bool) -> None:
    """It needs min_days since the first purchase at the moment's time (90 days exactly is enough)."""
    first = None if tenure is None else MOMENT_AT - tenure
    ctx = context(customer=replace(HAPPY_CUSTOMER, first_purchase_at=first), now=MOMENT_AT + timedelta(days=5))
    assert verdict(ctx) == ((True, None) if passes else (False, "tenure"))


def test_tenure_is_measured_at_the_moment_not_at_detection() -> None:
    """It counts tenure up to the moment, so a late detection does not make a customer old enough."""
    customer = replace(HAPPY_CUSTOMER, first_purchase_at=MOMENT_AT - timedelta(days=88))
    assert verdict(context(customer=customer, now=MOMENT_AT + timedelta(days=5))) == (False, "tenure")


def test_tenure_says_why() -> None:
    """It explains a block by the tenure and the days needed, or by the missing first purchase."""
    short = replace(HAPPY_CUSTOMER, first_purchase_at=MOMENT_AT - timedelta(days=45, hours=5))
    assert compile_guards(DEFAULT_GUARDS)(context(customer=short)).reason == "tenure is 45 days (at least 90 needed)"
    none = replace(HAPPY_CUSTOMER, first_purchase_at=None)
    assert compile_guards(DEFAULT_GUARDS)(context(customer=none)).reason == "the customer has no first purchase"


COOLDOWN_CASES = [
    ("never-asked", None, True),
    ("a-year-ago", timedelta(days=365), True),
    ("exactly-90-days-ago", timedelta(days=90), True),
    ("a-second-inside-90-days", timedelta(days=90) - timedelta(seconds=1), False),
    ("a-week-ago", timedelta(days=7), False),
    ("same-time", timedelta(0), False),
    ("after-the-moment", timedelta(days=-1), False),
]


@pytest.mark.parametrize(("ago", "passes"), [c[1:] for c in COOLDOWN_CASES], ids=[c[0] for c in COOLDOWN_CASES])
def test_cooldown(ago: timedelta | None, passes: bool) -> None:
    """It blocks a moment when the customer had a referral request in the previous 90 days."""
    last = None if ago is None else MOMENT_AT - ago
    assert verdict(context(last_request_at=last, now=MOMENT_AT + timedelta(days=2))) == (
        (True, None) if passes else (False, "cooldown")
    )


def _days(n: float) -> datetime:
    return MOMENT_AT - timedelta(days=n)


DETRACTOR_CASES: list[tuple[str, list[EventFacts], bool]] = [
    ("no-events", [], True),
    ("low-nps", [event("nps_submitted", _days(10), score=6)], False),
    ("zero-nps", [event("nps_submitted", _days(10), score=0)], False),
    ("passive-nps", [event("nps_submitted", _days(10), score=7)], True),
    ("low-csat", [event("ticket_resolved", _days(3), ticket_id="T1", csat=2)], False),
    ("neutral-csat", [event("ticket_resolved", _days(3), ticket_id="T1", csat=3)], True),
    ("unresolved-ticket", [event("ticket_opened", _days(2), ticket_id="T1")], False),
    (
        "resolved-ticket",
        [event("ticket_opened", _days(5), ticket_id="T1"), event("ticket_resolved", _days(4), ticket_id="T1", csat=4)],
        True,
    ),
    (
        "other-ticket-resolved",
        [event("ticket_opened", _days(5), ticket_id="T1"), event("ticket_resolved", _days(4), ticket_id="T2", csat=4)],
        False,
    ),
    (
        "resolved-only-after-the-moment",
        [event("ticket_opened", _days(5), ticket_id="T1"), event("ticket_resolved", _days(-1), ticket_id="T1", csat=5)],
        False,
    ),
    (
        "resolution-before-opening-does-not-count",
        [event("ticket_resolved", _days(6), ticket_id="T1", csat=4), event("ticket_opened", _days(5), ticket_id="T1")],
        False,
    ),
    ("low-nps-31-days-before", [event("nps_submitted", _days(31), score=2)], True),
    ("low-nps-exactly-30-days-before", [event("nps_submitted", _days(30), score=2)], False),
    ("low-nps-after-the-moment", [event("nps_submitted", _days(-0.5), score=2)], True),
    ("unresolved-ticket-opened-before-the-look-back", [event("ticket_opened", _days(40), ticket_id="T9")], True),
    ("other-event-types-ignored", [event("purchase", _days(1), amount=-5), event("page_viewed", _days(1))], True),
    ("nps-without-score", [event("nps_submitted", _days(1))], True),
]


@pytest.mark.parametrize(("events", "passes"), [c[1:] for c in DETRACTOR_CASES], ids=[c[0] for c in DETRACTOR_CASES])
def test_detractor(events: list[EventFacts], passes: bool) -> None:
    """It blocks a moment after a detractor signal in the 30 days before it."""
    assert verdict(context(events=events)) == ((True, None) if passes else (False, "detractor"))


def test_a_ticket_resolved_by_the_moment_itself_is_not_a_detractor() -> None:
    """It treats the ticket the moment resolves as resolved: the delighted resolution is not an open ticket."""
    opened = event("ticket_opened", _days(2), ticket_id="T7")
    resolved = event("ticket_resolved", MOMENT_AT, ticket_id="T7", csat=5)
    candidate = replace(moment(), rule_id="delighted_support", source_key=resolved.event_id, event_id=resolved.event_id)
    ctx = GuardContext(
        moment=candidate, customer=HAPPY_CUSTOMER, recent_events=[opened, resolved], last_request_at=None, now=MOMENT_AT
    )
    assert verdict(ctx) == (True, None)


def test_the_moments_own_event_is_never_a_signal() -> None:
    """It ignores the moment's own event even when that event looks like a detractor signal."""
    opened = event("ticket_opened", MOMENT_AT, ticket_id="T8")
    candidate = replace(moment(), rule_id="ticket_opened_rule", source_key=opened.event_id, event_id=opened.event_id)
    ctx = GuardContext(
        moment=candidate, customer=HAPPY_CUSTOMER, recent_events=[opened], last_request_at=None, now=MOMENT_AT
    )
    assert verdict(ctx) == (True, None)
    other = event("ticket_opened", MOMENT_AT, ticket_id="T9")
    assert verdict(replace(ctx, recent_events=[opened, other])) == (False, "detractor")


def test_a_time_based_moment_still_sees_detractor_signals() -> None:
    """It checks detractor signals for moments that have no event of their own."""
    candidate = moment(source=None)
    low = event("nps_submitted", _days(1), score=3)
    assert verdict(context(candidate=candidate, events=[low])) == (False, "detractor")
    assert verdict(context(candidate=candidate)) == (True, None)


def test_detractor_says_which_event() -> None:
    """It names the event type, id and day of the signal that blocked."""
    low = event("nps_submitted", datetime(2025, 5, 20, 8, 0, tzinfo=UTC), score=3)
    reason = compile_guards(DEFAULT_GUARDS)(context(events=[low])).reason
    assert reason == f"detractor signal: nps_submitted {low.event_id} on 2025-05-20"


GUARD_NAMES = ["staleness", "consent", "tenure", "cooldown", "detractor"]


def failing(names: Sequence[str]) -> GuardContext:
    """A context in which exactly the named guards block."""
    customer = HAPPY_CUSTOMER
    if "consent" in names:
        customer = replace(customer, marketing_opt_in=False)
    if "tenure" in names:
        customer = replace(customer, first_purchase_at=None)
    return context(
        customer=customer,
        events=[event("nps_submitted", _days(1), score=0)] if "detractor" in names else [],
        last_request_at=_days(1) if "cooldown" in names else None,
        now=MOMENT_AT + (timedelta(days=30) if "staleness" in names else timedelta(hours=1)),
    )


@pytest.mark.parametrize("first", GUARD_NAMES)
def test_the_first_blocking_guard_wins(first: str) -> None:
    """It applies guards in order (staleness, consent, tenure, cooldown, detractor); the first that blocks wins."""
    later = GUARD_NAMES[GUARD_NAMES.index(first) :]
    assert verdict(failing([first])) == (False, first)
    assert verdict(failing(later)) == (False, first)


@pytest.mark.parametrize("disabled", GUARD_NAMES)
def test_a_disabled_guard_is_skipped(disabled: str) -> None:
    """It skips a disabled guard and lets the next blocking one decide."""
    guards = DEFAULT_GUARDS.model_copy(
        update={disabled: getattr(DEFAULT_GUARDS, disabled).model_copy(update={"enabled": False})}
    )
    assert verdict(failing([disabled]), guards) == (True, None)
    expected = next(name for name in GUARD_NAMES if name != disabled)
    assert verdict(failing(GUARD_NAMES), guards) == (False, expected)


def test_with_every_guard_disabled_everything_passes() -> None:
    """It lets any moment through when every guard is switched off."""
    all_off = DEFAULT_GUARDS.model_copy(
        update={name: getattr(DEFAULT_GUARDS, name).model_copy(update={"enabled": False}) for name in GUARD_NAMES}
    )
    assert verdict(failing(GUARD_NAMES), all_off) == (True, None)
