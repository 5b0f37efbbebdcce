"""Hostile posts: oversized and streamed bodies, injection in every field, deep nesting, hostile data on pages.

Whatever the attempt, the answer is a 4xx with a reason (or the data is kept as inert text where it
is legitimately text), the tables stay as they were, and nothing half-written is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Customer, LinkClick, Referral, Response, Suppression
from referral_automation.services.links.signer import LinkSigner
from tests.support.links import SIGNING_KEY
from tests.support.send import NOW, add_request
from tests.support.web import BEARER, INBOUND_TOKEN, multipart, sent_request

Factory = sessionmaker[Session]
SQL = "'; DROP TABLE responses; --"
INBOUND_AUTH = ("sendgrid", INBOUND_TOKEN)


def nothing_recorded(factory: Factory) -> bool:
    with factory() as session:
        counts = [
            session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Response, Referral, LinkClick, Suppression)
        ]
    return counts == [0, 0, 0, 0]


@pytest.fixture
def small_app(make_app: Callable[..., FastAPI]) -> TestClient:
    """An app whose webhook cap is 2 KiB, unsigned events allowed (the cap is what is tested)."""
    app = make_app(
        REFERRAL_WEB_MAX_BODY_BYTES=2048, SENDGRID_WEBHOOK_PUBLIC_KEY=None, REFERRAL_WEBHOOK_ALLOW_UNSIGNED=True
    )
    return TestClient(app)


@pytest.mark.parametrize(
    ("path", "size"),
    [("/webhooks/sendgrid/events", 4096), ("/webhooks/sendgrid/inbound", 4096), ("/api/referrals", 70_000),
     ("/api/conversions", 70_000), ("/u/whatever", 70_000)],
)  # fmt: skip
def test_oversized_bodies_are_413(small_app: TestClient, factory: Factory, path: str, size: int) -> None:
    """It refuses a body over its path's cap from its Content-Length, before any handler reads it."""
    sent_request(factory, "ann")
    headers = {**BEARER, "Content-Type": "application/json"}
    response = small_app.post(path, content=b"[" + b" " * size + b"]", headers=headers, auth=None)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert nothing_recorded(factory)


def test_a_streamed_body_is_cut_off_at_the_cap(small_app: TestClient, factory: Factory) -> None:
    """It stops reading a chunked body (no Content-Length) once it passes the cap, and answers 413."""
    request_id, _ = sent_request(factory, "ann")
    event = {
        "sg_event_id": "e",
        "event": "open",
        "email": "a@b.example",
        "timestamp": 1,
        "referral_request_id": request_id,
    }

    def chunks() -> Iterator[bytes]:
        yield b"["
        for i in range(200):
            yield orjson.dumps({**event, "sg_event_id": f"e{i}"}) + b","
        yield b"{}]"

    response = small_app.post("/webhooks/sendgrid/events", content=chunks())
    assert response.status_code == 413
    assert nothing_recorded(factory)


def test_a_streamed_api_body_is_413_too(small_app: TestClient, factory: Factory) -> None:
    """It answers 413, not FastAPI's generic 400, when the cap is passed while the API parses its body."""
    _, code = sent_request(factory, "ann")
    body = orjson.dumps({"code": code, "email": "bob@corp.example", "name": "x" * 100_000})
    response = small_app.post("/api/referrals", content=iter([body[:1000], body[1000:]]), headers=BEARER)
    assert response.status_code == 413
    assert nothing_recorded(factory)


@pytest.mark.parametrize(
    "signup",
    [
        {"code": SQL, "email": "bob@corp.example"},
        {"code": "CODE", "email": SQL},
        {"code": "CODE", "email": "bob@corp.example\r\nBcc: eve@evil.example"},
        {"code": "CODE", "email": '"evil>,<victim"@corp.example'},
        {"code": "CODE", "email": "bob@corp.example", "name": "Bob\r\nBcc: eve@evil.example"},
        {"code": "CODE", "email": "bob@corp.example", "name": "Bob\u202eevil"},
        {"code": "CODE", "email": "bob@corp.example", "name": "Bob\x00"},
        {"code": "CODE\x00", "email": "bob@corp.example"},
        {"code": ["CODE"], "email": "bob@corp.example"},
        {"code": "CODE", "email": {"$ne": None}},
    ],
)
def test_injection_in_api_fields_is_refused(client: TestClient, factory: Factory, signup: dict[str, object]) -> None:
    """It answers 422 to SQL, header, NoSQL and direction-override injection in any field, recording nothing."""
    _, code = sent_request(factory, "ann")
    body = {key: value.replace("CODE", code) if isinstance(value, str) else value for key, value in signup.items()}
    response = client.post("/api/referrals", json=body, headers=BEARER)
    assert response.status_code == 422, response.text
    assert nothing_recorded(factory)


def test_markup_in_a_name_is_kept_as_text(client: TestClient, factory: Factory) -> None:
    """It stores a name with markup as the text it is; the JSON answer carries it escaped by JSON alone."""
    _, code = sent_request(factory, "ann")
    name = "<script>alert(1)</script> O'Brien"
    response = client.post(
        "/api/referrals", json={"code": code, "email": "bob@corp.example", "name": name}, headers=BEARER
    )
    assert response.status_code == 201
    with factory() as session:
        assert session.execute(select(Referral.referee_name)).scalar_one() == name


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[" * 20_000 + b"]" * 20_000, b'{"code": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", b"\xff\xfe\x00"],
)
def test_malformed_and_deep_json_is_refused(client: TestClient, factory: Factory, body: bytes) -> None:
    """It answers 4xx to broken, deeply nested or undecodable JSON, and records nothing."""
    sent_request(factory, "ann")
    response = client.post("/api/referrals", content=body, headers={**BEARER, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert nothing_recorded(factory)


def test_injection_in_a_reply_is_inert_text(client: TestClient, factory: Factory) -> None:
    """It keeps a reply's hostile subject and text as text, and a header-injected From names nobody."""
    sent_request(factory, "ann")
    body, content_type = multipart(
        {
            "from": "ann@example.com\r\nBcc: eve@evil.example",
            "subject": SQL,
            "text": f"<img src=x onerror=alert(1)> {SQL}",
            "headers": "In-Reply-To: <" + "x" * 10_000 + ">\r\n",
            "envelope": "{not json",
        }
    )
    response = client.post(
        "/webhooks/sendgrid/inbound", content=body, headers={"Content-Type": content_type}, auth=INBOUND_AUTH
    )
    assert response.status_code == 200
    assert response.json()["referral_request_id"] is None
    with factory() as session:
        (stored,) = session.execute(select(Response)).scalars()
    assert stored.details["subject"] == SQL
    assert stored.details["text"].startswith("<img src=x onerror=alert(1)>")


def test_hostile_data_on_the_unsubscribe_page_is_escaped(client: TestClient, factory: Factory) -> None:
    """It escapes an address stored before addresses were checked, so it cannot become markup."""
    with factory() as session, session.begin():
        session.execute(
            insert(Customer),
            {"customer_id": "mallory", "email": "m@x.example\"><script>alert(1)</script>", "created_at": NOW,
             "updated_at": NOW, "first_name": "", "last_name": "", "company": "", "plan": "", "lifetime_value": 0,
             "timezone": "UTC", "locale": "en", "marketing_opt_in": True},
        )  # fmt: skip
    request_id = add_request(factory, "mallory", status="sent")
    page = client.get(f"/u/{LinkSigner(SIGNING_KEY).unsubscribe_token(request_id)}")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


@pytest.mark.parametrize(
    "path", ["/r/..%2F..%2Fetc%2Fpasswd", "/u/..%2F..%2Fetc%2Fpasswd", "/r/%00%00%00%00%00%00%00%00"]
)
def test_traversal_and_nul_in_paths_are_refused(client: TestClient, factory: Factory, path: str) -> None:
    """It answers 4xx to traversal and NUL bytes in a code or token, and records nothing."""
    sent_request(factory, "ann")
    assert 400 <= client.get(path).status_code < 500
    assert nothing_recorded(factory)
