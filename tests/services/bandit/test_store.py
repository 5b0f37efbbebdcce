"""The bandit's SQL: sends and first outcomes per arm and day of age, and the sums of the logged choices."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.domain.bandit import AgeRow, ArmKey, BanditArm, BanditSettings, refresh
from referral_automation.domain.responses import ResponseKind
from referral_automation.services.bandit import store
from tests.reference import bandit as reference
from tests.support.bandit import add_advocate, add_outcomes, add_sends

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CHEAP = ArmKey("gratitude", "donation")
DEAR = ArmKey("gratitude", "give50_get50")
CONVERSION = ResponseKind.CONVERSION


OTHER = ArmKey("direct_ask", "donation")
ARMS = [CHEAP, DEAR, OTHER]


def rows(
    factory: sessionmaker[Session],
    *,
    kind: str = "conversion",
    default: float | None = None,
    arms: list[ArmKey] = ARMS,
) -> list[AgeRow]:
    with factory() as session, session.begin():
        found = store.age_rows(
            session, campaign="customer_referral", arms=arms, kind=kind, now=NOW, default_value=default
        )
    return sorted(found)


def test_sends_are_counted_by_arm_and_whole_day_of_age(factory: sessionmaker[Session]) -> None:
    """It counts each arm's sends by how many whole days ago they went out, the oldest folded into day 90,
    and leaves out requests not sent, sent after now, or of another campaign."""
    add_advocate(factory, at=NOW)
    add_sends(factory, [NOW - timedelta(hours=2), NOW - timedelta(hours=23), NOW - DAY - timedelta(hours=1)], arm=CHEAP)
    add_sends(factory, [NOW - 95 * DAY, NOW - 400 * DAY, None, NOW + timedelta(hours=1)], arm=DEAR)
    add_sends(factory, [NOW - DAY / 2], arm=CHEAP, campaign="partner_program")

    assert rows(factory) == [
        AgeRow("gratitude", "donation", 0, 2, 0, 0.0, 0.0),
        AgeRow("gratitude", "donation", 1, 1, 0, 0.0, 0.0),
        AgeRow("gratitude", "give50_get50", 90, 2, 0, 0.0, 0.0),
    ]


def test_a_send_is_in_day_d_from_d_to_d_plus_one_days_old(factory: sessionmaker[Session]) -> None:
    """It puts a send made exactly d days ago in day d, and one a microsecond younger in day d - 1."""
    add_advocate(factory, at=NOW)
    tick = timedelta(microseconds=1)
    add_sends(factory, [NOW, NOW - DAY, NOW - DAY + tick, NOW - 2 * DAY + tick, NOW - 90 * DAY], arm=CHEAP)

    assert [(row.age_days, row.sends) for row in rows(factory)] == [(0, 2), (1, 2), (90, 1)]


def test_only_the_arms_asked_for_are_counted(factory: sessionmaker[Session]) -> None:
    """It leaves out the sends and outcomes of arms the campaign no longer runs."""
    add_advocate(factory, at=NOW)
    (old,) = add_sends(factory, [NOW - 3 * DAY], arm=DEAR)
    add_sends(factory, [NOW - 3 * DAY], arm=CHEAP)
    add_outcomes(factory, [(old, CONVERSION, NOW - DAY, {"value": 10})], now=NOW)

    assert rows(factory, arms=[CHEAP]) == [AgeRow("gratitude", "donation", 3, 1, 0, 0.0, 0.0)]
    assert rows(factory, arms=[]) == []


def test_only_the_first_outcome_of_the_objectives_kind_by_now_counts(factory: sessionmaker[Session]) -> None:
    """It counts a request's first conversion once, with its delay and its value, and ignores later ones,
    other kinds and conversions after now."""
    add_advocate(factory, at=NOW)
    first, second, third = add_sends(factory, [NOW - 10 * DAY, NOW - 10 * DAY, NOW - 3 * DAY], arm=CHEAP)
    add_outcomes(
        factory,
        [
            (first, CONVERSION, NOW - 8 * DAY, {"value": 120.5, "currency": "USD"}),
            (first, CONVERSION, NOW - 7 * DAY, {"value": 1000}),
            (first, ResponseKind.REPLIED_OK, NOW - 9 * DAY, {}),
            (second, ResponseKind.REFERRAL, NOW - 9 * DAY, {}),
            (third, CONVERSION, NOW + DAY, {"value": 50}),
        ],
        now=NOW,
    )

    assert rows(factory) == [
        AgeRow("gratitude", "donation", 3, 1, 0, 0.0, 0.0),
        AgeRow("gratitude", "donation", 10, 2, 1, pytest.approx(2.0), pytest.approx(120.5)),  # type: ignore[arg-type]
    ]
    replies = rows(factory, kind="replied_ok")
    assert [(r.age_days, r.outcomes, r.delay_days_sum) for r in replies] == [(3, 0, 0.0), (10, 1, pytest.approx(1.0))]


@pytest.mark.parametrize(
    "details",
    [{}, {"value": "120"}, {"value": True}, {"value": None}, {"value": [1]}, {"value": 1e13}, {"amount": 5}],
)
def test_a_conversion_without_a_usable_value_is_worth_the_default(
    factory: sessionmaker[Session], details: dict[str, object]
) -> None:
    """It takes the campaign's default value (else nothing) for a conversion whose value is no sane number."""
    add_advocate(factory, at=NOW)
    (request,) = add_sends(factory, [NOW - 5 * DAY], arm=CHEAP)
    add_outcomes(factory, [(request, CONVERSION, NOW - 4 * DAY, details)], now=NOW)

    assert [(r.outcomes, r.value_sum) for r in rows(factory)] == [(1, 0.0)]
    assert [(r.outcomes, r.value_sum) for r in rows(factory, default=900.0)] == [(1, 900.0)]


def random_history(factory: sessionmaker[Session], seed: int) -> None:
    """Two hundred requests over 120 days, a third of them logged by an allocation, with replies and
    conversions of odd values, some after now, some repeated."""
    rng = random.Random(seed)
    add_advocate(factory, at=NOW)
    moments = [NOW - timedelta(seconds=rng.randrange(0, 120 * 86400) + 0.5) for _ in range(200)]
    arms = ARMS
    ids = add_sends(factory, moments[:130], arm=arms[0]) if seed % 2 else []
    for n, at in enumerate(moments[len(ids) : 130]):
        ids += add_sends(factory, [at], arm=arms[n % 3])
    allocation = refresh([BanditArm(*arm) for arm in arms], [], BanditSettings(holdout=0.3))
    ids += add_sends(factory, moments[130:], allocation=allocation)
    values: list[object] = [10, 99.5, -3, "x", None, 2**70, 0]
    outcomes = [
        (request, rng.choice([CONVERSION, ResponseKind.REPLIED_OK]), at + timedelta(hours=rng.uniform(-5, 400)),
         {"value": rng.choice(values)})
        for request, at in zip(ids, moments, strict=True)
        for _ in range(rng.choice([0, 0, 1, 2]))
    ]  # fmt: skip
    add_outcomes(factory, outcomes, now=NOW)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_refresh_query_is_the_plain_count(factory: sessionmaker[Session], seed: int) -> None:
    """It returns, on random histories, exactly what counting the ORM's rows one by one gives."""
    random_history(factory, seed)
    for kind, default in (("conversion", None), ("conversion", 75.0), ("replied_ok", None)):
        expected = reference.age_rows(factory, campaign="customer_referral", kind=kind, now=NOW, default_value=default)
        found = rows(factory, kind=kind, default=default)
        assert [row[:5] for row in found] == [row[:5] for row in expected]
        assert [row[5:] for row in found] == [pytest.approx(row[5:]) for row in expected]


@pytest.mark.parametrize("seed", [3, 4])
def test_the_logged_sums_are_the_plain_sums(factory: sessionmaker[Session], seed: int) -> None:
    """It sums the logged sends' inverse propensities, outcomes and values as a loop over the ORM's rows does."""
    random_history(factory, seed)
    before = NOW - 20 * DAY
    with factory() as session, session.begin():
        found = store.logged_sums(
            session, campaign="customer_referral", kind="conversion", now=NOW, sent_before=before, default_value=40.0
        )
    expected = reference.logged_sums(
        factory, campaign="customer_referral", kind="conversion", now=NOW, sent_before=before, default_value=40.0
    )
    plain = sorted(
        (s.variant, s.incentive, s.from_holdout, s.sends, s.outcomes_seen, s.value_seen, s.inverse, s.outcomes,
         s.values, s.outcomes_sq, s.values_sq, s.values_sq2)
        for s in found
    )  # fmt: skip
    assert [row[:5] for row in plain] == [row[:5] for row in expected]
    assert [row[5:] for row in plain] == [pytest.approx(row[5:]) for row in expected]
    assert sum(row[3] for row in plain) > 20
