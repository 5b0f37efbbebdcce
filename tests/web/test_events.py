"""The Signed Event Webhook: verified, within the replay window, recorded once per sg_event_id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Response
from tests.support.send import NOW
from tests.support.web import EventKey, sent_request

URL = "/webhooks/sendgrid/events"
Factory = sessionmaker[Session]


def events(request_id: str, count: int = 2, prefix: str = "sg") -> bytes:
    return orjson.dumps(
        [
            {"sg_event_id": f"{prefix}-{i}", "event": "open", "email": "ann@example.com",
             "timestamp": int(NOW.timestamp()), "referral_request_id": request_id, "sequence_step": "0"}
            for i in range(count)
        ]
    )  # fmt: skip


def recorded(factory: Factory) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(Response)).scalar_one())


def stamp(offset: timedelta = timedelta(0)) -> str:
    return str(int((NOW + offset).timestamp()))


def test_a_signed_post_is_recorded_once(client: TestClient, factory: Factory, event_key: EventKey) -> None:
    """It records a signed batch, and the same events posted again (SendGrid retries) only once."""
    request_id, _ = sent_request(factory, "ann")
    body = events(request_id)
    first = client.post(URL, content=body, headers=event_key.headers(body, stamp()))
    again = client.post(URL, content=body, headers=event_key.headers(body, stamp(timedelta(seconds=30))))
    assert (first.status_code, first.json()["recorded"]) == (200, 2)
    assert (again.status_code, again.json()["duplicates"]) == (200, 2)
    assert recorded(factory) == 2


@pytest.mark.parametrize(
    "tamper",
    ["no signature", "no timestamp", "forged", "other body", "malformed", "too old", "from the future", "not a number"],
)
def test_unverified_posts_are_refused_with_nothing_recorded(
    client: TestClient, factory: Factory, event_key: EventKey, tamper: str
) -> None:
    """It answers 403 to a missing, forged or malformed signature and a timestamp outside the replay window."""
    request_id, _ = sent_request(factory, "ann")
    body = events(request_id)
    headers = event_key.headers(body, stamp())
    signature, timestamp = "X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"
    if tamper == "no signature":
        del headers[signature]
    elif tamper == "no timestamp":
        del headers[timestamp]
    elif tamper == "forged":
        headers[signature] = EventKey().sign(body, stamp())
    elif tamper == "other body":
        body = events(request_id, 3)
    elif tamper == "malformed":
        headers[signature] = "not base64!!"
    elif tamper == "too old":
        headers = event_key.headers(body, stamp(-timedelta(minutes=6)))
    elif tamper == "from the future":
        headers = event_key.headers(body, stamp(timedelta(minutes=6)))
    else:
        headers[timestamp] = "soon"
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 403, response.text
    assert recorded(factory) == 0


def test_without_a_key_posts_are_refused_unless_development_allows_them(
    make_app: Callable[..., FastAPI], factory: Factory
) -> None:
    """It refuses every post when no public key is set, and takes unsigned ones only when told to."""
    request_id, _ = sent_request(factory, "ann")
    closed = TestClient(make_app(SENDGRID_WEBHOOK_PUBLIC_KEY=None))
    response = closed.post(URL, content=events(request_id))
    assert response.status_code == 403
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in response.json()["detail"]
    development = TestClient(make_app(SENDGRID_WEBHOOK_PUBLIC_KEY=None, REFERRAL_WEBHOOK_ALLOW_UNSIGNED=True))
    assert development.post(URL, content=events(request_id)).status_code == 200
    assert recorded(factory) == 2


def test_bad_events_are_skipped_and_reported(client: TestClient, factory: Factory, event_key: EventKey) -> None:
    """It records the good events of a batch and names the bad ones by index."""
    request_id, _ = sent_request(factory, "ann")
    good = orjson.loads(events(request_id, 1))
    body = orjson.dumps([*good, {"event": "open"}, "nonsense"])
    response = client.post(URL, content=body, headers=event_key.headers(body, stamp()))
    assert response.status_code == 200
    assert response.json()["recorded"] == 1
    assert [line.split(":")[0] for line in response.json()["rejected"]] == ["webhook", "webhook"]
    assert recorded(factory) == 1


@pytest.mark.parametrize(
    "poison",
    [b'{"event": "open", "value": NaN}', b'{"event": "open", "note": "\\ud800"}', b"[" * 5000 + b"]" * 5000],
    ids=["NaN", "lone surrogate", "nested too deep"],
)
def test_one_poison_event_is_rejected_alone(
    client: TestClient, factory: Factory, event_key: EventKey, poison: bytes
) -> None:
    """It records the batch's good events and rejects by index one that no JSON column could store,
    answering 200 so that SendGrid does not retry the whole batch for a day."""
    request_id, _ = sent_request(factory, "ann")
    good = events(request_id, 2)
    body = good[:-1] + b"," + poison + b"]"
    response = client.post(URL, content=body, headers=event_key.headers(body, stamp()))
    assert response.status_code == 200, response.text
    assert (response.json()["received"], response.json()["recorded"]) == (3, 2)
    assert [line.split(":")[:2] for line in response.json()["rejected"]] == [["webhook", "[2]"]]
    assert recorded(factory) == 2


@pytest.mark.parametrize("body", [b"{not json", b'{"an": "object"}', b"", b"\xff\xfe", b"nul"])
def test_malformed_bodies_are_refused(make_app: Callable[..., FastAPI], factory: Factory, body: bytes) -> None:
    """It answers 400 to a body that is not a JSON array (or 403 when it cannot even be signed text)."""
    sent_request(factory, "ann")
    client = TestClient(make_app(SENDGRID_WEBHOOK_PUBLIC_KEY=None, REFERRAL_WEBHOOK_ALLOW_UNSIGNED=True))
    assert client.post(URL, content=body, headers={"Content-Type": "application/json"}).status_code == 400
    assert recorded(factory) == 0
