"""``referral-automation web``: what it says before serving, and what it refuses to serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT


def run(url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["web", *args, "--database-url", url, "--config-dir", str(ROOT / "config")], env=env)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What uvicorn was asked to serve (nothing is served)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: calls.append({"target": target, **options}))
    return calls


def test_it_serves_and_says_what_is_not_configured(sqlite_url: str, served: list[dict[str, Any]]) -> None:
    """It serves on the host and port given, and warns on stderr about every missing token and key."""
    env = {"REFERRAL_API_TOKEN": "", "REFERRAL_INBOUND_TOKEN": "", "SENDGRID_WEBHOOK_PUBLIC_KEY": ""}
    result = run(sqlite_url, "--host", "127.0.0.1", "--port", "8765", env={k: v for k, v in env.items() if v})
    assert result.exit_code == 0, result.output
    assert (served[0]["host"], served[0]["port"], served[0]["access_log"]) == ("127.0.0.1", 8765, False)
    assert "warning: REFERRAL_API_TOKEN is not set" in result.stderr
    assert "warning: SENDGRID_WEBHOOK_PUBLIC_KEY is not set: /webhooks/sendgrid/events answers 403" in result.stderr


def test_several_workers_build_the_app_from_the_environment(sqlite_url: str, served: list[dict[str, Any]]) -> None:
    """It hands uvicorn the app factory (one app per worker process) when asked for several workers."""
    result = run(sqlite_url, "--workers", "2")
    assert result.exit_code == 0
    assert "one worker serves it better" in result.stderr
    assert (served[0]["target"], served[0]["factory"], served[0]["workers"]) == (
        "referral_automation.web.app:app_from_environment",
        True,
        2,
    )


def test_an_uninitialised_database_is_one_line(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    """It refuses, in one line and exit 1, to serve a database without the schema."""
    result = run(f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert "Traceback" not in result.output
    assert served == []


def test_a_malformed_webhook_key_is_one_line(sqlite_url: str, served: list[dict[str, Any]]) -> None:
    """It refuses to start with a SENDGRID_WEBHOOK_PUBLIC_KEY that is not a key, naming the setting."""
    result = run(sqlite_url, env={"SENDGRID_WEBHOOK_PUBLIC_KEY": "not-a-key"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 ECDSA public key")
    assert served == []


def test_an_empty_webhook_key_is_a_missing_one(sqlite_url: str, served: list[dict[str, Any]]) -> None:
    """It reads SENDGRID_WEBHOOK_PUBLIC_KEY= (set but empty) as not set: the warning at start, and signed
    events refused with 403, where an empty key used to pass the start and fail every post."""
    result = run(sqlite_url, env={"SENDGRID_WEBHOOK_PUBLIC_KEY": ""})
    assert result.exit_code == 0, result.output
    assert "warning: SENDGRID_WEBHOOK_PUBLIC_KEY is not set: /webhooks/sendgrid/events answers 403" in result.stderr
