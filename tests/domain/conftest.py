"""Fixtures of the domain tests (the shipped campaign; nothing else: the domain needs nothing)."""

from __future__ import annotations

import pytest

from referral_automation.config import Campaign, load_config
from tests.support import ROOT


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_config(ROOT / "config").campaign("customer_referral")
