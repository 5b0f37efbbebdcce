"""``/healthz`` and ``/docs``: the app answers, and says when its database does not."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from referral_automation.web.app import create_app
from tests.support.send import NOW
from tests.support.web import web_settings


def test_healthy(client: TestClient) -> None:
    """It answers 200 when the database answers, and serves the OpenAPI description and its page."""
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/webhooks/sendgrid/events", "/webhooks/sendgrid/inbound", "/r/{code}", "/u/{token}"} <= set(paths)
    assert {"/api/referrals", "/api/conversions", "/healthz"} <= set(paths)


def test_a_database_without_the_schema_is_unhealthy(sqlite_url: str, tmp_path: Path) -> None:
    """It answers 503, without the database's URL, when the schema is gone."""
    app = create_app(web_settings(sqlite_url), clock=lambda: NOW)
    app.state.context.sessions.kw["bind"].dispose()
    (tmp_path / "referral.db").unlink()
    (tmp_path / "referral.db").write_bytes(b"")
    response = TestClient(app).get("/healthz")
    assert response.status_code == 503
    assert str(tmp_path) not in response.text
