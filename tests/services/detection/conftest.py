"""Fixtures of the detection tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_automation.config import AppConfig, load_config
from tests.support import ROOT


@pytest.fixture(scope="module")
def settled_in_config(tmp_path_factory: pytest.TempPathFactory) -> AppConfig:
    """The shipped config with the time-based rule ``settled_in`` (120 days after the first purchase) on."""
    folder = tmp_path_factory.mktemp("config")
    for source in (ROOT / "config").glob("*.yaml"):
        text = source.read_text(encoding="utf-8")
        if source.name == "triggers.yaml":
            assert "    enabled: false\n" in text
            text = text.replace("    enabled: false\n", "    enabled: true\n")
        (folder / source.name).write_text(text, encoding="utf-8")
    return load_config(Path(folder))
