"""``referral-automation run``: one flow run from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app, flow_runner
from referral_automation.db.models import ReferralRequest
from referral_automation.db.session import session_factory
from tests.support.detect_factories import (
    NOW,
    ROOT,
    add_customer,
    add_event,
    rows,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["run", *args], env={"COLUMNS": "100"})


@pytest.mark.flow
@pytest.mark.xdist_group("prefect")
def test_run_detect_prints_only_json_counts_and_hints_at_the_temporary_server(sqlite_url: str, tmp_path: Path) -> None:
    """It runs detection on a temporary Prefect server, prints only JSON counts on stdout, and says so on stderr."""
    factory = session_factory(sqlite_url)
    add_customer(factory, "ada")
    add_event(factory, "ada", "nps_submitted", at=NOW - timedelta(hours=1), score=10)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PREFECT_", "REFERRAL_"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    completed = subprocess.run(
        [sys.executable, "-m", "referral_automation", "run", "detect", "--now", "2026-03-04T10:00:00", "--json",
         "--database-url", sqlite_url, "--config-dir", str(ROOT / "config")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "events_scanned": 1,
        "candidates": 1,
        "requests_created": 1,
        "pending_approval": 0,
        "blocked": {},
        "superseded": 0,
        "watermark": 1,
    }
    assert completed.stderr.splitlines()[0] == flow_runner.EPHEMERAL_HINT
    assert "Traceback" not in completed.stderr
    assert [r["customer_id"] for r in rows(factory, ReferralRequest)] == ["ada"]


def test_a_flow_that_is_not_there_is_an_error_not_a_silent_success(monkeypatch: pytest.MonkeyPatch) -> None:
    """It exits 1 naming the missing flow file instead of pretending to have sent anything."""
    monkeypatch.setitem(flow_runner.FLOWS, "send", ("not_written_yet", "send_flow"))

    result = run("send", "--config-dir", str(ROOT / "config"))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: the 'send' flow is not available in this installation"
        " (no module referral_automation.flows.not_written_yet)"
    )


def test_a_broken_config_is_reported_before_prefect_starts(tmp_path: Path) -> None:
    """It prints the config's problems as path:line lines and exits 1 without running a flow."""
    for source in (ROOT / "config").glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    triggers = tmp_path / "triggers.yaml"
    triggers.write_text(triggers.read_text(encoding="utf-8").replace("priority: 30", "priority: high"))

    result = run("detect", "--config-dir", str(tmp_path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{triggers}:")
    assert "priority" in result.stderr


@pytest.mark.parametrize("args", [["everything"], ["detect", "--now", "next tuesday"]])
def test_usage_mistakes_exit_2(args: list[str]) -> None:
    """It rejects an unknown flow and an unreadable --now as usage errors."""
    assert run(*args).exit_code == 2
