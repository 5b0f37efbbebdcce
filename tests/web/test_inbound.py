"""Inbound Parse posts: basic auth with the inbound token, multipart read in SendGrid's charsets."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Response
from referral_automation.services.links.signer import LinkSigner
from tests.support import links
from tests.support.send import request_row
from tests.support.web import INBOUND_TOKEN, multipart, sent_request

URL = "/webhooks/sendgrid/inbound"
Factory = sessionmaker[Session]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def stored(factory: Factory) -> list[Response]:
    with factory() as session:
        return list(session.execute(select(Response)).scalars())


def test_an_ok_reply_to_the_signed_address_is_recorded(client: TestClient, factory: Factory) -> None:
    """It records replied_ok on the request a reply+token address names, and stops its follow-ups."""
    request_id, _ = sent_request(factory, "ann")
    address = LinkSigner(links.SIGNING_KEY, "reply@in.example.com").reply_to(request_id)
    body, content_type = multipart(
        {"from": "Ann <ann@example.com>", "to": str(address), "subject": "Re: a favour", "text": "Ok!\n\n> quoted",
         "headers": "Message-ID: <r1@mail.example>\r\n", "SPF": "pass", "charsets": '{"text": "utf-8"}'}
    )  # fmt: skip
    response = client.post(
        URL, content=body, headers={"Content-Type": content_type, **basic("sendgrid", INBOUND_TOKEN)}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "replied_ok",
        "referral_request_id": request_id,
        "matched_by": "reply_address",
        "recorded": True,
    }
    assert request_row(factory, request_id).next_followup_at is None


def test_fields_are_read_in_the_charset_sendgrid_names(client: TestClient, factory: Factory) -> None:
    """It decodes a Latin-1 text part as Latin-1, not as garbled UTF-8."""
    sent_request(factory, "ann")
    body, content_type = multipart(
        {"from": "ann@example.com", "text": "Très bien, merci".encode("latin-1"), "charsets": '{"text": "iso-8859-1"}'}
    )
    client.post(URL, content=body, headers={"Content-Type": content_type, **basic("x", INBOUND_TOKEN)})
    (response,) = stored(factory)
    assert response.details["text"] == "Très bien, merci"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("sendgrid", "wrong"),
        {"Authorization": "Basic !!!"},
        {"Authorization": f"Bearer {INBOUND_TOKEN}"},
        basic("sendgrid", INBOUND_TOKEN + "x"),
    ],
)
def test_wrong_or_missing_credentials_are_refused(
    client: TestClient, factory: Factory, headers: dict[str, str]
) -> None:
    """It answers 401 with a Basic challenge to anything but the inbound token, and records nothing."""
    body, content_type = multipart({"from": "ann@example.com", "text": "OK"})
    response = client.post(URL, content=body, headers={"Content-Type": content_type, **headers})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert stored(factory) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"text=OK", "application/x-www-form-urlencoded"),
        (b"--xYzZY\r\nno headers at all", "multipart/form-data; boundary=xYzZY"),
        (b"whatever", "multipart/form-data"),
        (b'{"text": "OK"}', "application/json"),
    ],
)
def test_malformed_posts_are_refused(client: TestClient, factory: Factory, body: bytes, content_type: str) -> None:
    """It answers 400 to a body that is not a well-formed multipart form, and records nothing."""
    response = client.post(URL, content=body, headers={"Content-Type": content_type, **basic("x", INBOUND_TOKEN)})
    assert response.status_code == 400, response.text
    assert stored(factory) == []
