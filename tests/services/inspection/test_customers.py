"""A customer's story: moments and what became of them, and what every guard says of a moment now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import ConsentGuard, GuardOverrides
from referral_automation.services.detection.detect import detect_moments
from referral_automation.services.inspection.customers import customer_story
from referral_automation.services.inspection.lookup import NotFoundError
from tests.support.detect_factories import (
    NOW,
    SHIPPED_CONFIG,
    add_customer,
    add_event,
    add_request,
    suppress,
)

DAY = timedelta(days=1)


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    """An empty database (these tests make their own customers)."""
    from referral_automation.db.session import session_factory

    return session_factory(db_url)


def test_each_moment_says_what_became_of_it(factory: sessionmaker[Session]) -> None:
    """It lists the customer's moments newest first: requested with its request, blocked with its guard and reason."""
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - 40 * DAY, score=10)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW - 40 * DAY, batch_size=100)
    add_event(factory, "ada", "ticket_resolved", at=NOW - DAY, ticket_id="T-1", csat=5)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=100)

    story = customer_story(factory, "ada", now=NOW, limit=50)

    assert [(m.moment.rule_id, m.moment.outcome, m.blocked_by) for m in story.moments] == [
        ("delighted_support", "blocked", "cooldown"),
        ("nps_promoter", "requested", None),
    ]
    blocked, requested = story.moments
    assert blocked.verdict().startswith("blocked by cooldown: a referral request was made on 2026-01-23")
    assert requested.verdict() == f"requested: {requested.request_id[:8]} (scheduled)"  # type: ignore[index]
    assert [r.id for r in story.requests] == [requested.request_id]
    assert requested.moment.words() == "nps_submitted (score 10) on 2026-01-23 10:00 UTC, rule nps_promoter"


def test_the_newest_moments_up_to_the_limit(factory: sessionmaker[Session]) -> None:
    """It keeps the newest ``limit`` moments and says there were more."""
    add_customer(factory, "ada", opt_in=False)
    for day in (1, 2, 3):
        add_event(factory, "ada", "milestone_reached", at=NOW - day * DAY, name=f"m{day}")
    detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=100)
    story = customer_story(factory, "ada", now=NOW, limit=2)
    assert [m.moment.properties["name"] for m in story.moments] == ["m1", "m2"]
    assert story.more_moments
    assert not customer_story(factory, "ada", now=NOW, limit=0).more_moments


def test_a_customer_is_found_by_address(factory: sessionmaker[Session]) -> None:
    """It finds a customer from their email address, in any case, and names an unknown one."""
    add_customer(factory, "ada", email="Ada@Example.com")
    assert customer_story(factory, "ada@example.com", now=NOW, limit=5).customer.customer_id == "ada"
    with pytest.raises(NotFoundError, match=r"no customer has the id 'bob@example\.com'"):
        customer_story(factory, "bob@example.com", now=NOW, limit=5)


Setup = Callable[[sessionmaker[Session]], None]
STATES: list[tuple[str, Setup, str | None, str | None]] = [
    ("every guard passes", lambda f: add_customer(f, "ada"), None, None),
    ("not opted in", lambda f: add_customer(f, "ada", opt_in=False), "consent", None),
    ("suppressed", lambda f: (add_customer(f, "ada"), suppress(f, "ada@example.com")), "consent", None),
    ("new customer", lambda f: add_customer(f, "ada", tenure_days=30), "tenure", "2026-05-03 10:00"),
    ("asked recently", lambda f: (add_customer(f, "ada"), add_request(f, "ada", created_at=NOW - 10 * DAY)),
     "cooldown", "2026-05-23 10:00"),
    ("a detractor score", lambda f: (add_customer(f, "ada"), add_event(f, "ada", "nps_submitted", at=NOW - 5 * DAY,
                                                                         score=3)), "detractor", None),
]  # fmt: skip


@pytest.mark.parametrize(("setup", "guard", "until"), [s[1:] for s in STATES], ids=[s[0] for s in STATES])
def test_the_verdict_now_is_what_detection_then_decides(
    factory: sessionmaker[Session], setup: Setup, guard: str | None, until: str | None
) -> None:
    """It says which guard would block a moment of truth now, and until when; detection, given that
    moment, blocks it with the same guard (or asks when every guard passes)."""
    setup(factory)

    story = customer_story(factory, "ada", now=NOW, limit=10, config=SHIPPED_CONFIG)
    add_event(factory, "ada", "nps_submitted", at=NOW, score=10)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=100)
    decided = customer_story(factory, "ada", now=NOW, limit=1).moments[0]

    (verdict,) = story.verdicts
    assert verdict.rules == ("nps_promoter", "delighted_support", "milestone")
    blocking = [line for line in verdict.lines if line.passed is False]
    assert [line.guard for line in blocking][:1] == ([guard] if guard else [])
    assert verdict.passes is (guard is None)
    assert (decided.moment.outcome, decided.blocked_by) == (
        ("requested", None) if guard is None else ("blocked", guard)
    )
    if until is not None:
        assert f"{blocking[0].until:%Y-%m-%d %H:%M}" == until


def test_rules_with_their_own_guards_get_their_own_verdict(factory: sessionmaker[Session]) -> None:
    """It gives a rule that replaces a guard its own verdict, beside the rules that share the defaults."""
    rules = list(SHIPPED_CONFIG.triggers.rules)
    rules[0] = rules[0].model_copy(update={"guards": GuardOverrides(consent=ConsentGuard(enabled=False))})
    config = SHIPPED_CONFIG.model_copy(update={"triggers": SHIPPED_CONFIG.triggers.model_copy(update={"rules": rules})})
    add_customer(factory, "ada", opt_in=False)

    story = customer_story(factory, "ada", now=NOW, limit=5, config=config)

    assert [(v.rules, v.passes) for v in story.verdicts] == [
        (("nps_promoter",), True),
        (("delighted_support", "milestone"), False),
    ]
    assert story.verdicts[0].lines[0].passed is None


def test_moments_of_other_customers_are_not_shown(factory: sessionmaker[Session]) -> None:
    """It shows only the customer's own moments."""
    add_customer(factory, "ada")
    add_customer(factory, "bob")
    add_event(factory, "bob", "nps_submitted", at=NOW - DAY, score=10)
    detect_moments(factory, SHIPPED_CONFIG, now=NOW, batch_size=100)
    assert customer_story(factory, "ada", now=NOW, limit=5).moments == ()
