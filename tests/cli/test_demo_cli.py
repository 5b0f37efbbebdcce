"""``referral-automation demo``: a sample workspace, the pipeline over simulated weeks, a summary."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner, Result

from referral_automation.cli import app
from referral_automation.db.session import session_factory
from referral_automation.services.demo.summary import summarise
from tests.support.demo import NOW, counts


def demo(*args: str) -> Result:
    return CliRunner().invoke(app, ["demo", *args], env={"COLUMNS": "120"})


def test_demo_builds_a_workspace_and_summarises(tmp_path: Path) -> None:
    """It builds the workspace, sends first asks and follow-ups into the outbox, and prints where to look next."""
    workspace = tmp_path / "demo"
    result = demo("--customers", "150", "--workspace", str(workspace), "--now", NOW, "--direct")
    assert result.exit_code == 0, result.output
    for part in ("referral.db", "config/campaigns.yaml", "templates/email", "data/customers.csv", "data/events.jsonl"):
        assert (workspace / part).exists(), part
    summary = summarise(session_factory(f"sqlite:///{workspace / 'referral.db'}"), workspace / "outbox")
    assert summary.customers == 150
    assert summary.messages_by_step.get(0, 0) > 0
    assert summary.messages_by_step.get(1, 0) > 0
    assert len(list((workspace / "outbox").glob("*.eml"))) == sum(summary.messages_by_step.values())
    assert summary.timezone_fallbacks == 0  # the ingest refuses zones that are no IANA zone
    assert {"delivered", "opened"} <= set(summary.responses)
    assert summary.sample_first_ask is not None
    parsed = message_from_bytes(summary.sample_first_ask.read_bytes(), policy=policy.default)
    assert parsed["X-Referral-Sequence-Step"] == "0"
    assert "first asks sent" in result.output
    assert "Look further" in result.output
    assert f"cd {workspace.resolve()}" in result.output
    assert "referral-automation requests list" in result.output


def test_demo_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    """It prints the same counts for the same seed and time, in any workspace, and different ones for another seed."""
    first = demo("--customers", "80", "--workspace", str(tmp_path / "a"), "--now", NOW, "--direct", "--seed", "3")
    second = demo("--customers", "80", "--workspace", str(tmp_path / "b"), "--now", NOW, "--direct", "--seed", "3")
    other = demo("--customers", "80", "--workspace", str(tmp_path / "c"), "--now", NOW, "--direct", "--seed", "4")
    assert first.exit_code == second.exit_code == other.exit_code == 0
    assert counts(first.output) == counts(second.output)
    assert counts(first.output) != counts(other.output)


def test_demo_rebuilds_its_workspace_and_keeps_edited_config(tmp_path: Path) -> None:
    """It starts from a fresh database and outbox on a second run, keeping the workspace's config and templates."""
    workspace = tmp_path / "demo"
    assert demo("--customers", "40", "--workspace", str(workspace), "--now", NOW, "--direct").exit_code == 0
    marker = workspace / "templates" / "email" / "EDITED"
    marker.write_text("kept", encoding="utf-8")
    files = len(list((workspace / "outbox").glob("*.eml")))
    assert demo("--customers", "40", "--workspace", str(workspace), "--now", NOW, "--direct").exit_code == 0
    assert marker.read_text(encoding="utf-8") == "kept"
    assert len(list((workspace / "outbox").glob("*.eml"))) == files


def test_demo_refuses_a_directory_that_is_not_its_own(tmp_path: Path) -> None:
    """It never reuses a non-empty directory that it did not create, and says which one."""
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(app, ["demo", "--workspace", str(tmp_path), "--direct", "--now", NOW])
    assert result.exit_code == 1
    assert "is no demo workspace" in result.output
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "keep me"


def test_demo_refuses_a_database_with_customers(tmp_path: Path, sqlite_url: str) -> None:
    """It runs on another database only when that database is empty."""
    from tests.support.send import add_customer

    add_customer(session_factory(sqlite_url), "someone")
    result = demo("--workspace", str(tmp_path / "demo"), "--database-url", sqlite_url, "--direct", "--now", NOW)
    assert result.exit_code == 1
    assert "needs an empty database" in result.output
