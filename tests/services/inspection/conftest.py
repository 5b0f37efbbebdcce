"""Fixtures of the inspection tests: a database with two customers."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support.factories import add_customer, sessions


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    factory = sessions(db_url)
    add_customer(factory, "c1")
    add_customer(factory, "c2")
    return factory
