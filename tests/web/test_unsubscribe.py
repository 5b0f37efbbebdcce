"""Unsubscribe over HTTP: a confirmation page, RFC 8058's one-click POST, forged tokens refused."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referral_automation.db.models import Suppression
from referral_automation.services.links.signer import LinkSigner
from tests.support.links import SIGNING_KEY
from tests.support.send import request_row
from tests.support.web import sent_request

Factory = sessionmaker[Session]
SIGNER = LinkSigner(SIGNING_KEY)


def suppressed(factory: Factory) -> list[str]:
    with factory() as session:
        return list(session.execute(select(Suppression.email)).scalars())


def test_the_page_asks_and_changes_nothing(client: TestClient, factory: Factory) -> None:
    """It shows the masked address and a button, and a GET (a link scanner) unsubscribes nobody."""
    request_id, _ = sent_request(factory, "ann")
    token = SIGNER.unsubscribe_token(request_id)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    assert "a***@example.com" in page.text
    assert f'action="/u/{token}"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert suppressed(factory) == []


def test_one_click_post_unsubscribes_without_a_browser(client: TestClient, factory: Factory) -> None:
    """It answers a mail client's one-click POST with 200 and a plain line, suppresses and stops follow-ups."""
    request_id, _ = sent_request(factory, "ann")
    response = client.post(
        f"/u/{SIGNER.unsubscribe_token(request_id)}",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (response.status_code, response.text, response.headers["content-type"]) == (
        200,
        "unsubscribed\n",
        "text/plain; charset=utf-8",
    )
    assert suppressed(factory) == ["ann@example.com"]
    assert request_row(factory, request_id).next_followup_at is None


def test_the_button_gets_a_page(client: TestClient, factory: Factory) -> None:
    """It answers the page's own form post with a page saying it is done."""
    request_id, _ = sent_request(factory, "ann")
    response = client.post(f"/u/{SIGNER.unsubscribe_token(request_id)}", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text


def test_forged_tokens_are_404(client: TestClient, factory: Factory) -> None:
    """It answers 404 to an altered or made-up token, on the page and on the POST, and suppresses nobody."""
    request_id, _ = sent_request(factory, "ann")
    token = SIGNER.unsubscribe_token(request_id)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for candidate in (altered, "x" * 44, "%3Cscript%3E"):
        assert client.get(f"/u/{candidate}").status_code == 404
        assert client.post(f"/u/{candidate}").status_code == 404
    assert suppressed(factory) == []
