"""Referral links: a click recorded, a 302 to the campaign's landing page with ?ref=, bad codes refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import LinkClick
from tests.support.web import sent_request

Factory = sessionmaker[Session]


def clicks(factory: Factory) -> list[LinkClick]:
    with factory() as session:
        return list(session.execute(select(LinkClick)).scalars())


def test_a_click_is_recorded_and_redirected(client: TestClient, factory: Factory) -> None:
    """It answers 302 to the campaign's landing page with ref={code} and keeps the click without the IP."""
    _, code = sent_request(factory, "ann")
    response = client.get(f"/r/{code}", headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 302
    assert response.headers["location"] == f"https://example.com/referral?ref={code}"
    assert response.headers["cache-control"] == "no-store"
    (click,) = clicks(factory)
    assert click.ip_hash is not None
    assert "testclient" not in click.ip_hash


@pytest.mark.parametrize(
    ("code", "status"),
    [("short", 400), ("has.dots.in.it", 400), ("x" * 65, 400), ("'%20OR%201=1--", 400), ("validbutunknown", 404)],
)
def test_malformed_and_unknown_codes(client: TestClient, factory: Factory, code: str, status: int) -> None:
    """It answers 400 to what cannot be a code and 404 to a code no request has, recording nothing."""
    sent_request(factory, "ann")
    assert client.get(f"/r/{code}").status_code == status
    assert clicks(factory) == []
