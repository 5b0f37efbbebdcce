"""Fixtures of the approval tests."""

from __future__ import annotations

import pytest

from referral_automation.config import AppConfig, load_config
from tests.support import ROOT


@pytest.fixture(scope="module")
def config() -> AppConfig:
    return load_config(ROOT / "config")
