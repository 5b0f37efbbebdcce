"""Conversions: a signed-up referee becomes a customer, both sides are credited once, caps hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.models import Customer, Response, RewardEntry
from referral_automation.errors import ConflictError, NotFoundError
from referral_automation.services.referrals.conversions import LedgerPolicy, record_conversion
from referral_automation.services.referrals.inputs import ConversionIn, SignupIn
from referral_automation.services.referrals.signups import record_signup
from tests.support.send import NOW
from tests.support.web import sent_request

Factory = sessionmaker[Session]


def sign_up(factory: Factory, code: str, email: str, name: str = "") -> None:
    record_signup(factory, SignupIn(code=code, email=email, name=name), now=NOW, source="test")


def convert(factory: Factory, config: AppConfig, **fields: object) -> object:
    conversion = ConversionIn.model_validate({"value": "100", **fields})
    return record_conversion(factory, conversion, config=config, now=NOW, policy=LedgerPolicy(refund_window_days=30))


def count(factory: Factory, model: type) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_conversion_credits_both_sides_and_adds_the_referee(
    factory: Factory, config: AppConfig, advocate: tuple[str, str]
) -> None:
    """It books the incentive's two rewards pending for the refund window, a conversion response
    with its value and currency, and the referee as a customer referred by the advocate."""
    request_id, code = advocate
    sign_up(factory, code, "bob@corp.example", "Bob Builder")
    result = convert(factory, config, referee_email="bob@corp.example", value="120.50", currency="EUR")
    assert result.created  # type: ignore[attr-defined]
    with factory() as session:
        rewards = {r.side: r for r in session.execute(select(RewardEntry)).scalars()}
        assert (rewards["referrer"].recipient, rewards["referrer"].value) == ("ann", Decimal("50.00"))
        assert (rewards["referee"].recipient, rewards["referee"].kind) == ("bob@corp.example", "discount_percent")
        assert {r.status for r in rewards.values()} == {"pending"}
        assert rewards["referrer"].issue_after == NOW + timedelta(days=30)
        (response,) = session.execute(select(Response).where(Response.kind == "conversion")).scalars()
        assert response.referral_request_id == request_id
        assert response.details["value"] == 120.5
        assert response.details["currency"] == "EUR"
        bob = session.execute(select(Customer).where(Customer.email == "bob@corp.example")).scalar_one()
        assert (bob.referred_by, bob.first_name, bob.marketing_opt_in) == ("ann", "Bob", False)


def test_the_same_conversion_twice_creates_nothing_new(
    factory: Factory, config: AppConfig, advocate: tuple[str, str]
) -> None:
    """It answers a repeated conversion with what was recorded, and writes nothing."""
    sign_up(factory, advocate[1], "bob@corp.example")
    first = convert(factory, config, referee_email="bob@corp.example")
    again = convert(factory, config, code=advocate[1], referee_email="bob@corp.example")
    assert not again.created  # type: ignore[attr-defined]
    assert again.rewards == first.rewards  # type: ignore[attr-defined]
    assert (count(factory, RewardEntry), count(factory, Response)) == (2, 2)  # referral + conversion responses


def test_a_code_alone_names_its_only_referee(factory: Factory, config: AppConfig, advocate: tuple[str, str]) -> None:
    """It converts the one referee of a code, and refuses when the code has several."""
    sign_up(factory, advocate[1], "bob@corp.example")
    assert convert(factory, config, code=advocate[1]).created  # type: ignore[attr-defined]
    sign_up(factory, advocate[1], "cy@corp.example")
    sign_up(factory, advocate[1], "di@corp.example")
    with pytest.raises(ConflictError, match="several referees"):
        convert(factory, config, code=advocate[1])


def test_nobody_who_signed_up_cannot_convert(factory: Factory, config: AppConfig, advocate: tuple[str, str]) -> None:
    """It refuses a conversion of an address that never signed up, and records nothing."""
    with pytest.raises(NotFoundError, match="never signed up"):
        convert(factory, config, referee_email="stranger@corp.example")
    assert count(factory, RewardEntry) == 0


def test_the_cap_per_advocate_limits_the_referrer_side(
    factory: Factory, capped: Callable[[int], AppConfig], advocate: tuple[str, str]
) -> None:
    """It rewards the advocate for the first ``cap`` conversions only; every referee still gets theirs."""
    config = capped(2)
    for i in range(3):
        sign_up(factory, advocate[1], f"friend{i}@corp.example")
        convert(factory, config, referee_email=f"friend{i}@corp.example")
    with factory() as session:
        sides = sorted(session.execute(select(RewardEntry.side)).scalars())
    assert sides == ["referee"] * 3 + ["referrer"] * 2


def test_an_existing_customer_is_linked_not_duplicated(
    factory: Factory, config: AppConfig, advocate: tuple[str, str]
) -> None:
    """It marks a referee who is already a customer (by the id given) as referred, adding no customer."""
    sent_request(factory, "bob", email="bob@corp.example")
    sign_up(factory, advocate[1], "bob@corp.example")
    before = count(factory, Customer)
    result = convert(factory, config, referee_email="bob@corp.example", customer_id="bob")
    assert result.referee_customer_id == "bob"  # type: ignore[attr-defined]
    assert count(factory, Customer) == before
    with factory() as session:
        bob = session.get(Customer, "bob")
        assert bob is not None
        assert bob.referred_by == "ann"


def test_a_held_referral_converts_without_credit(
    factory: Factory, config: AppConfig, advocate: tuple[str, str]
) -> None:
    """It keeps a held referee's conversion but credits nothing until a person accepts the referral."""
    sign_up(factory, advocate[1], "x@mailinator.com")
    result = convert(factory, config, referee_email="x@mailinator.com")
    assert (result.referral_status, result.rewards) == ("held", ())  # type: ignore[attr-defined]
    assert count(factory, Response) == 0
