"""Fixtures of the send tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    path = tmp_path / "outbox"
    path.mkdir()
    return path
