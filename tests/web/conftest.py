"""Fixtures of the web tests: an app on each test database, with a pinned clock and a signing key pair."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from referral_automation.web.app import create_app
from tests.support.send import NOW
from tests.support.web import EventKey, web_settings


@pytest.fixture(scope="session")
def event_key() -> EventKey:
    """SendGrid's side of the Signed Event Webhook (one key pair for the session: generating costs)."""
    return EventKey()


@pytest.fixture
def make_app(db_url: str, event_key: EventKey) -> Callable[..., FastAPI]:
    """An app on the test's database; settings can be overridden (``REFERRAL_...=value``)."""

    def build(**overrides: object) -> FastAPI:
        values: dict[str, object] = {"SENDGRID_WEBHOOK_PUBLIC_KEY": event_key.public_key}
        values.update(overrides)
        return create_app(web_settings(db_url, **values), clock=lambda: NOW)

    return build


@pytest.fixture
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(make_app(), follow_redirects=False) as test_client:
        yield test_client
