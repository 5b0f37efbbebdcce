"""Fixtures of the database tests: a database with one customer."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.session import session_factory
from tests.support.detect_factories import add_customer


@pytest.fixture
def factory(db_url: str) -> sessionmaker[Session]:
    factory = session_factory(db_url)
    add_customer(factory, "ada")
    return factory
