"""``referral-automation demo``: a sample workspace, the pipeline over simulated weeks, a summary."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest
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
    assert "requests list" in result.output


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


CONSOLE_SCRIPT = Path(sys.executable).parent / "referral-automation"


@pytest.fixture(scope="module")
def suggested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]], dict[str, str]]:
    """The demo run from the installed script, as ``make demo`` runs it: its workspace, the commands it
    suggests (as argument lists, after its ``cd``) and a clean environment to run them in."""
    home = tmp_path_factory.mktemp("newcomer")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PREFECT_", "REFERRAL_"))}
    env |= {"PREFECT_HOME": str(home / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "80"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != str(CONSOLE_SCRIPT.parent))
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "demo", "--direct", "--customers", "60", "--workspace", "ws", "--now", NOW],
        cwd=home, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    lines = completed.stdout.split("Look further", 1)[1].splitlines()
    commands = [shlex.split(line) for line in lines if line.startswith("  ")]
    assert commands[0] == ["cd", str(home / "ws")]
    return home / "ws", commands[1:], env


def test_every_command_the_demo_suggests_works_as_printed(
    suggested: tuple[Path, list[list[str]], dict[str, str]],
) -> None:
    """It prints commands that run from the workspace as they are (the program by its path when it is
    not on PATH), and each exits 0 with no traceback (run all is the flow test below)."""
    workspace, commands, env = suggested
    assert {command[1:3][0] for command in commands} >= {"requests", "customers", "approvals", "preview", "run"}
    for command in commands:
        assert Path(workspace, command[0]).resolve() == CONSOLE_SCRIPT.resolve()
        if command[1] == "run":
            continue
        completed = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=120,
                                   check=False)  # fmt: skip
        assert completed.returncode == 0, (command, completed.stderr)
        assert "Traceback" not in completed.stderr


@pytest.mark.flow
@pytest.mark.xdist_group("prefect")
def test_the_suggested_run_works_as_printed(suggested: tuple[Path, list[list[str]], dict[str, str]]) -> None:
    """It runs the pipeline once more, on a temporary Prefect server, from the line the demo printed."""
    workspace, commands, env = suggested
    (command,) = [command for command in commands if command[1] == "run"]
    completed = subprocess.run(
        command, cwd=workspace, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [("{bin}/referral-automation", False, "../venv/bin/referral-automation"),
     ("{bin}/referral-automation", True, "referral-automation"),
     ("{pkg}/__main__.py", False, "../venv/bin/python -m referral_automation")],
    ids=["by its path", "on PATH", "python -m"],
)  # fmt: skip
def test_the_program_is_named_as_the_user_can_call_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv0: str, on_path: bool, expected: str
) -> None:
    """It names the program as a shell in the workspace would find it."""
    from referral_automation.cli.demo import invocation

    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("referral-automation", "python"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__main__.py").write_text("")
    monkeypatch.setattr(sys, "argv", [argv0.format(bin=bin_dir, pkg=tmp_path / "pkg")])
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", str(bin_dir) if on_path else "/nonexistent")
    (tmp_path / "ws").mkdir()
    assert invocation(tmp_path / "ws") == expected
