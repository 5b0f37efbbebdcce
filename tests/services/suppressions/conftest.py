"""Fixtures of the suppression tests: an empty database."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.factories import sessions


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    return sessions(db_url)
