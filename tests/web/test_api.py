"""The referral API: bearer-token auth, reasons for every refusal, sign-ups and conversions end to end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Referral, RewardEntry
from tests.support.web import API_TOKEN, BEARER, sent_request

Factory = sessionmaker[Session]


def count(factory: Factory, model: type) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"}, {"Authorization": "Bearer "},
     {"Authorization": f"Bearer {API_TOKEN[:-1]}"}],
)  # fmt: skip
def test_wrong_or_missing_tokens_are_refused(client: TestClient, factory: Factory, headers: dict[str, str]) -> None:
    """It answers 401 with a Bearer challenge, before reading the body, and records nothing."""
    _, code = sent_request(factory, "ann")
    response = client.post("/api/referrals", json={"code": code, "email": "bob@corp.example"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert count(factory, Referral) == 0


def test_an_unset_token_closes_the_api(make_app: Callable[..., FastAPI], factory: Factory) -> None:
    """It refuses every call while REFERRAL_API_TOKEN is not set, and says why."""
    _, code = sent_request(factory, "ann")
    client = TestClient(make_app(REFERRAL_API_TOKEN=None))
    response = client.post("/api/referrals", json={"code": code, "email": "bob@corp.example"}, headers=BEARER)
    assert response.status_code == 401
    assert "REFERRAL_API_TOKEN is not set" in response.json()["detail"]


def test_a_signup_then_its_conversion(client: TestClient, factory: Factory) -> None:
    """It answers 201 to a sign-up, 409 to the same referee again, 201 to the conversion and 200 to its repeat."""
    _, code = sent_request(factory, "ann")
    signup = {"code": code, "email": "bob@corp.example", "name": "Bob"}
    assert client.post("/api/referrals", json=signup, headers=BEARER).status_code == 201
    again = client.post("/api/referrals", json=signup, headers=BEARER)
    assert again.status_code == 409
    assert "already referred" in again.json()["detail"]
    conversion = {"referee_email": "bob@corp.example", "value": 249.0}
    first = client.post("/api/conversions", json=conversion, headers=BEARER)
    repeat = client.post("/api/conversions", json=conversion, headers=BEARER)
    assert (first.status_code, repeat.status_code) == (201, 200)
    assert (first.json()["created"], repeat.json()["created"]) == (True, False)
    assert count(factory, RewardEntry) == 2


def test_a_flagged_signup_is_accepted_for_review(client: TestClient, factory: Factory) -> None:
    """It answers 202 with the reasons to a sign-up held for review."""
    _, code = sent_request(factory, "ann")
    response = client.post("/api/referrals", json={"code": code, "email": "x@guerrillamail.com"}, headers=BEARER)
    assert response.status_code == 202
    assert response.json()["status"] == "held"


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/api/referrals", {"code": "nobodyhasthis", "email": "bob@corp.example"}, 404, "no referral request"),
        ("/api/referrals", {"code": "CODE", "email": "ann@example.com"}, 422, "self-referral"),
        ("/api/referrals", {"code": "ab", "email": "bob@corp.example"}, 422, "code"),
        ("/api/referrals", {"code": "CODE", "email": "bob@corp.example, eve@evil.example"}, 422, "email"),
        ("/api/referrals", {"code": "CODE", "email": "bob@corp.example", "admin": True}, 422, "admin"),
        ("/api/conversions", {"value": 10}, 422, "referee_email"),
        ("/api/conversions", {"referee_email": "bob@corp.example", "value": -1}, 422, "value"),
        ("/api/conversions", {"referee_email": "bob@corp.example", "value": "NaN"}, 422, "value"),
        ("/api/conversions", {"referee_email": "nobody@corp.example", "value": 1}, 404, "never signed up"),
    ],
)
def test_refusals_carry_their_reason(
    client: TestClient, factory: Factory, path: str, body: dict[str, object], status: int, reason: str
) -> None:
    """It answers 404, 409 or 422 with a reason naming what is wrong, and records nothing."""
    _, code = sent_request(factory, "ann")
    payload = {key: value.replace("CODE", code) if isinstance(value, str) else value for key, value in body.items()}
    response = client.post(path, json=payload, headers=BEARER)
    assert response.status_code == status, response.text
    assert reason in str(response.json()["detail"])
    assert count(factory, Referral) == 0
