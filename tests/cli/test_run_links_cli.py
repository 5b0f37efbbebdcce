"""``run send`` with the sendgrid backend warns, once, when the links in emails would point at localhost."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from referral_automation.cli import app, flow_runner
from referral_automation.settings import Settings
from tests.support import ROOT


@pytest.fixture
def no_flow_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The flows are not run (their logic has its own tests): only which one was asked for is kept."""
    runs: list[str] = []

    def run_flow(name: str, **_: Any) -> dict[str, int]:
        runs.append(name)
        return {"sent": 0}

    monkeypatch.setattr(flow_runner, "run_flow", run_flow)
    monkeypatch.setattr(flow_runner, "is_ephemeral", lambda: False)
    return runs


@pytest.mark.parametrize(
    ("backend", "base", "warned"),
    [
        ("sendgrid", "http://localhost:8000", True),
        ("sendgrid", "http://127.0.0.1:8000", True),
        ("sendgrid", "https://refer.example.com", False),
        ("outbox", "http://localhost:8000", False),
    ],
)
def test_send_warns_once_about_localhost_links(
    sqlite_url: str, no_flow_run: list[str], backend: str, base: str, warned: bool
) -> None:
    """It prints one warning line naming REFERRAL_PUBLIC_BASE_URL before a sendgrid send with local links."""
    env = {"REFERRAL_EMAIL_BACKEND": backend, "REFERRAL_PUBLIC_BASE_URL": base, "SENDGRID_API_KEY": "SG.x.y"}
    command = ["run", "send", "--database-url", sqlite_url, "--config-dir", str(ROOT / "config")]
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code == 0, result.output
    assert no_flow_run == ["send"]
    assert result.stderr.count("REFERRAL_PUBLIC_BASE_URL") == (1 if warned else 0)


def test_detection_sends_nothing_and_says_nothing(sqlite_url: str, no_flow_run: list[str]) -> None:
    """It does not warn for a run that sends no email."""
    env = {"REFERRAL_EMAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.x.y"}
    command = ["run", "detect", "--database-url", sqlite_url, "--config-dir", str(ROOT / "config")]
    result = CliRunner().invoke(app, command, env=env)
    assert "REFERRAL_PUBLIC_BASE_URL" not in result.stderr


def test_the_warning_names_the_setting_and_the_url() -> None:
    """It says which setting and which URL would leave customers with dead links."""
    settings = Settings(REFERRAL_EMAIL_BACKEND="sendgrid", REFERRAL_PUBLIC_BASE_URL="http://app.localhost:8000")
    warning = settings.public_url_warning()
    assert warning is not None
    assert warning.startswith("REFERRAL_PUBLIC_BASE_URL is http://app.localhost:8000")
