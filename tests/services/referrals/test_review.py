"""A person's review of held referrals: accepted ones count (and are credited), rejected ones never."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.db.models import AuditEntry, Response, RewardEntry
from referral_automation.domain.statuses import ReferralStatus
from referral_automation.errors import ConflictError, NotFoundError
from referral_automation.services.referrals.conversions import record_conversion
from referral_automation.services.referrals.inputs import ConversionIn, SignupIn
from referral_automation.services.referrals.review import decide_referral, list_held
from referral_automation.services.referrals.signups import record_signup
from tests.support.send import NOW

Factory = sessionmaker[Session]


def held(factory: Factory, code: str, email: str = "x@mailinator.com") -> str:
    return record_signup(factory, SignupIn(code=code, email=email), now=NOW, source="test").referral_id


def kinds(factory: Factory) -> list[str]:
    with factory() as session:
        return sorted(session.execute(select(Response.kind)).scalars())


def test_held_referrals_are_listed_with_their_reasons(factory: Factory, advocate: tuple[str, str]) -> None:
    """It lists what waits for review, with why."""
    referral_id = held(factory, advocate[1])
    (item,) = list_held(factory)
    assert (item.referral_id, item.reasons) == (referral_id, ("disposable address domain: mailinator.com",))


def test_accepting_counts_the_referral_and_credits_its_conversion(
    factory: Factory, config: AppConfig, advocate: tuple[str, str]
) -> None:
    """It records the referral and, for a referee who already converted, the rewards and the conversion."""
    referral_id = held(factory, advocate[1])
    conversion = ConversionIn.model_validate({"referee_email": "x@mailinator.com", "value": "10"})
    record_conversion(factory, conversion, config=config, now=NOW)
    status = decide_referral(
        factory, referral_id[:8], accept=True, by="dana", note="real person", now=NOW, config=config
    )
    assert status is ReferralStatus.ACCEPTED
    assert kinds(factory) == ["conversion", "referral"]
    with factory() as session:
        assert len(list(session.execute(select(RewardEntry)).scalars())) == 2
        (audit,) = session.execute(select(AuditEntry).where(AuditEntry.action == "referral.accepted")).scalars()
        assert (audit.actor, audit.details["note"]) == ("dana", "real person")


def test_rejecting_means_it_never_counts(factory: Factory, config: AppConfig, advocate: tuple[str, str]) -> None:
    """It rejects a held referral: nothing recorded, and its referee can no longer convert."""
    referral_id = held(factory, advocate[1])
    decide_referral(factory, referral_id, accept=False, by="dana", note=None, now=NOW, config=config)
    assert kinds(factory) == []
    with pytest.raises(ConflictError, match="rejected on review"):
        record_conversion(
            factory,
            ConversionIn.model_validate({"referee_email": "x@mailinator.com", "value": "1"}),
            config=config,
            now=NOW,
        )


def test_only_held_referrals_are_decided(factory: Factory, config: AppConfig, advocate: tuple[str, str]) -> None:
    """It refuses to decide an accepted referral or an unknown id."""
    accepted = held(factory, advocate[1], "bob@corp.example")
    with pytest.raises(ConflictError, match="not held"):
        decide_referral(factory, accepted, accept=False, by="dana", note=None, now=NOW, config=config)
    with pytest.raises(NotFoundError):
        decide_referral(factory, "00000000-dead", accept=True, by="dana", note=None, now=NOW, config=config)
