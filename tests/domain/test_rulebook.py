"""Deciding one customer's moments and building the request, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from referral_automation.config import AppConfig, Comparison, NotOf, StalenessGuard, names_customer
from referral_automation.domain.arms import bandit_arms, bandit_settings
from referral_automation.domain.bandit import ArmKey, BanditSettings, refresh
from referral_automation.domain.facts import CustomerFacts, EventFacts, MomentCandidate
from referral_automation.domain.rulebook import RuleBook, decide_customer, new_request
from tests.support.detect_factories import NOW, SHIPPED_CONFIG

BOOK = RuleBook.of(SHIPPED_CONFIG)
CAMPAIGN = SHIPPED_CONFIG.campaign("customer_referral")
#: The shipped campaign's test before anything is recorded.
ALLOCATION = refresh(bandit_arms(CAMPAIGN), [], bandit_settings(CAMPAIGN))
ADA = CustomerFacts(
    customer_id="ada",
    email="ada@example.com",
    lifetime_value=Decimal(1200),
    first_purchase_at=NOW - timedelta(days=400),
    timezone="Europe/Berlin",
    marketing_opt_in=True,
)


def moment(rule_id: str, priority: int, age: timedelta, key: str) -> MomentCandidate:
    return MomentCandidate("ada", rule_id, key, NOW - age, priority, "customer_referral", event_id=key)


def test_the_best_moment_that_passes_is_requested_and_the_rest_superseded() -> None:
    """It blocks the stale promoter score, requests the delighted ticket and never evaluates the milestone."""
    candidates = [
        moment("milestone", 10, timedelta(hours=1), "e3"),
        moment("nps_promoter", 30, timedelta(days=9), "e1"),
        moment("delighted_support", 20, timedelta(hours=2), "e2"),
    ]

    outcomes = decide_customer(BOOK, candidates, customer=ADA, recent_events=[], last_request_at=None, now=NOW)

    assert [(o.moment.rule_id, o.outcome, o.guard) for o in outcomes] == [
        ("nps_promoter", "blocked", "staleness"),
        ("delighted_support", "requested", None),
        ("milestone", "superseded", None),
    ]


def test_a_detractor_among_the_recent_events_blocks_every_moment() -> None:
    """It records the detractor guard on each moment when an NPS of 2 came ten days before."""
    detractor = EventFacts("e0", "ada", "nps_submitted", NOW - timedelta(days=10), {"score": 2})
    candidates = [
        moment("milestone", 10, timedelta(hours=1), "e3"),
        moment("nps_promoter", 30, timedelta(hours=2), "e1"),
    ]

    outcomes = decide_customer(BOOK, candidates, customer=ADA, recent_events=[detractor], last_request_at=None, now=NOW)

    assert {(o.outcome, o.guard) for o in outcomes} == {("blocked", "detractor")}


@pytest.mark.parametrize(
    ("condition", "names"),
    [
        (Comparison(property="score", gte=9), False),
        (NotOf.model_validate({"not": {"customer": "plan", "eq": "free"}}), True),
        (None, False),
    ],
)
def test_rules_that_name_the_customer_are_told_apart(condition: object, names: bool) -> None:
    """It tells conditions on the customer (which make the scan load customers) from event-only ones."""
    assert names_customer(condition) is names  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("age", "stale"),
    [
        (timedelta(days=6), False),
        (timedelta(days=8), True),
        (-timedelta(hours=1), True),
        (-timedelta(minutes=1), False),
    ],
)
def test_staleness_is_known_from_the_moment_and_the_clock_alone(age: timedelta, stale: bool) -> None:
    """It finds moments older than 7 days, or more than five minutes in the future, stale."""
    reason = BOOK.stale_reason(moment("nps_promoter", 30, age, "e1"), NOW)

    assert (reason is not None) is stale


def test_a_rule_without_staleness_guard_never_goes_stale() -> None:
    """It never calls a moment stale when its rule switches the staleness guard off."""
    rules = [
        rule.model_copy(update={"guards": rule.guards.model_copy(update={"staleness": StalenessGuard(enabled=False)})})
        for rule in SHIPPED_CONFIG.triggers.rules
    ]
    config: AppConfig = SHIPPED_CONFIG.model_copy(
        update={"triggers": SHIPPED_CONFIG.triggers.model_copy(update={"rules": rules})}
    )

    assert RuleBook.of(config).stale_reason(moment("nps_promoter", 30, timedelta(days=400), "e1"), NOW) is None


def test_a_request_keeps_its_arm_and_takes_the_code_it_is_given() -> None:
    """It derives the arm from the request id (the same on every re-run) and uses the code and token it is given."""
    (outcome,) = decide_customer(
        BOOK,
        [moment("nps_promoter", 30, timedelta(hours=1), "e1")],
        customer=ADA,
        recent_events=[],
        last_request_at=None,
        now=NOW,
    )

    first, second = (
        new_request(
            BOOK, outcome, ADA, now=NOW, code=f"code-{n}", unsubscribe_token=f"token-{n}", allocation=ALLOCATION
        ).row
        for n in (1, 2)
    )

    assert (first["id"], first["variant"], first["incentive"]) == (second["id"], second["variant"], second["incentive"])
    assert (first["code"], first["unsubscribe_token"]) == ("code-1", "token-1")
    assert first["scheduled_for"] == datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def test_a_request_logs_the_choice_of_its_campaigns_test() -> None:
    """It takes the arm the allocation picks for the request id, and logs the model version, the arm's
    probability and whether the holdout chose it."""
    (outcome,) = decide_customer(
        BOOK, [moment("nps_promoter", 30, timedelta(hours=1), "e1")], customer=ADA, recent_events=[],
        last_request_at=None, now=NOW,
    )  # fmt: skip
    only = ArmKey("direct_ask", "donation")
    settings = BanditSettings(policy="fixed", fixed_weights={only: 1.0}, holdout=0.0, min_share=0.0)
    allocation = refresh(bandit_arms(CAMPAIGN), [], settings)

    row = new_request(BOOK, outcome, ADA, now=NOW, code="c", unsubscribe_token="t", allocation=allocation).row

    assert (row["variant"], row["incentive"]) == only
    assert row["model_version"] == allocation.version
    assert row["arm_propensity"] == 1.0
    assert row["from_holdout"] is False
    uniform = new_request(BOOK, outcome, ADA, now=NOW, code="c", unsubscribe_token="t", allocation=ALLOCATION).row
    assert uniform["arm_propensity"] == pytest.approx(1 / 6, abs=0.02)  # Monte Carlo draws on equal priors
