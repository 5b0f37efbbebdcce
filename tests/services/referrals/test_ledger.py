"""The reward ledger over time: issued after the refund window, cancelled by a refund inside it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from referral_automation.domain.rewards import RewardStatus
from referral_automation.errors import NotFoundError
from referral_automation.services.referrals.conversions import LedgerPolicy, record_conversion
from referral_automation.services.referrals.inputs import ConversionIn, SignupIn
from referral_automation.services.referrals.ledger import cancel_rewards, issue_due_rewards, list_rewards
from referral_automation.services.referrals.signups import record_signup
from tests.support.send import NOW

Factory = sessionmaker[Session]


@pytest.fixture
def converted(factory: Factory, config: AppConfig, advocate: tuple[str, str]) -> None:
    record_signup(factory, SignupIn(code=advocate[1], email="bob@corp.example"), now=NOW, source="test")
    conversion = ConversionIn.model_validate({"referee_email": "bob@corp.example", "value": "99"})
    record_conversion(factory, conversion, config=config, now=NOW, policy=LedgerPolicy(refund_window_days=14))


def statuses(factory: Factory) -> list[str]:
    return sorted(line["status"] for line in list_rewards(factory))


@pytest.mark.usefixtures("converted")
def test_rewards_are_issued_once_the_refund_window_has_passed(factory: Factory) -> None:
    """It leaves rewards pending inside the window and issues them, once, after it."""
    assert issue_due_rewards(factory, now=NOW + timedelta(days=14) - timedelta(seconds=1)) == 0
    assert issue_due_rewards(factory, now=NOW + timedelta(days=14)) == 2
    assert issue_due_rewards(factory, now=NOW + timedelta(days=15)) == 0
    assert statuses(factory) == ["issued", "issued"]
    assert len(list_rewards(factory, status=RewardStatus.ISSUED)) == 2


@pytest.mark.usefixtures("converted")
def test_a_refund_cancels_pending_rewards_but_not_issued_ones(factory: Factory) -> None:
    """It cancels what is still pending when the purchase is refunded; what was issued stays issued."""
    assert cancel_rewards(factory, "BOB@corp.example", by="ops", note="refund #42", now=NOW) == 2
    assert statuses(factory) == ["cancelled", "cancelled"]
    assert issue_due_rewards(factory, now=NOW + timedelta(days=30)) == 0
    with pytest.raises(NotFoundError):
        cancel_rewards(factory, "nobody@corp.example", by="ops", note=None, now=NOW)
