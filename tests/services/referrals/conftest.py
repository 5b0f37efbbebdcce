"""Fixtures of the referral tests: the shipped config, and an advocate whose first ask went out."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.config import AppConfig
from tests.support.send import shipped_config
from tests.support.web import sent_request


@pytest.fixture
def config() -> AppConfig:
    return shipped_config()


@pytest.fixture
def advocate(factory: sessionmaker[Session]) -> tuple[str, str]:
    """Ann's request (id, code): sent yesterday, a follow-up to come."""
    return sent_request(factory, "ann")


@pytest.fixture
def capped(config: AppConfig) -> Callable[[int], AppConfig]:
    """The shipped config with a cap on give50_get50 (the first ``cap`` referrers are rewarded)."""
    return lambda cap: _with_cap(config, cap)


def _with_cap(config: AppConfig, cap: int) -> AppConfig:
    campaign = config.campaign("customer_referral")
    incentives = [i.model_copy(update={"cap": cap}) if i.id == "give50_get50" else i for i in campaign.incentives]
    changed = campaign.model_copy(update={"incentives": incentives})
    campaigns = {**config.campaigns.campaigns, "customer_referral": changed}
    return config.model_copy(update={"campaigns": config.campaigns.model_copy(update={"campaigns": campaigns})})
