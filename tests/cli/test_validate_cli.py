"""``referral-automation validate``: the configuration part (templates are tested with the email package)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from referral_automation.cli import app
from tests.support import ROOT
from tests.support.config import line_of, write_config


def validate(config_dir: Path) -> Result:
    env = {"REFERRAL_TEMPLATES_DIR": str(ROOT / "templates" / "email"), "COLUMNS": "80"}
    return CliRunner().invoke(app, ["validate", "--config-dir", str(config_dir)], env=env)


def test_the_shipped_workspace_is_ok() -> None:
    """It prints ok and exits 0 for the config and templates as shipped."""
    result = validate(ROOT / "config")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok\n"
    assert result.stderr == ""


def test_every_config_problem_is_one_line_on_stderr(tmp_path: Path) -> None:
    """It prints each problem of every file as path:line: message on stderr, and exits 1 without "ok"."""
    write_config(
        tmp_path,
        ("events.yaml", "      score: {type: integer, min: 0, max: 10}", "      score: {type: count}"),
        ("triggers.yaml", "    priority: 20\n", "    priority: 20\n    colour: red\n"),
        ("campaigns.yaml", '      end: "17:00"\n', "      end: 17:00\n"),
    )
    events, triggers, campaigns = (tmp_path / name for name in ("events.yaml", "triggers.yaml", "campaigns.yaml"))

    result = validate(tmp_path)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{events}:{line_of(events, 'count')}: event_types.nps_submitted.properties.score.type: "
        "Input should be 'integer', 'number', 'string' or 'boolean'",
        f"{triggers}:{line_of(triggers, 'colour')}: rules.1: unknown key 'colour'",
        f"{campaigns}:{line_of(campaigns, 'end: 17:00')}: campaigns.customer_referral.send_window.end: "
        'write the time in quotes, like "17:00" (unquoted, YAML reads 17:00 as a number)',
    ]


def test_cross_file_problems_are_reported(tmp_path: Path) -> None:
    """It reports a rule that names an unknown campaign and event type, each at its line."""
    write_config(
        tmp_path,
        ("triggers.yaml", "    event: ticket_resolved\n", "    event: ticket_closed\n"),
        (
            "triggers.yaml",
            "    priority: 5\n    campaign: customer_referral\n",
            "    priority: 5\n    campaign: nope\n",
        ),
    )
    triggers = tmp_path / "triggers.yaml"
    result = validate(tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{triggers}:{line_of(triggers, 'ticket_closed')}",
        f"{triggers}:{line_of(triggers, 'campaign: nope')}",
    ]
    assert "unknown event type 'ticket_closed'" in lines[0]
    assert "unknown campaign 'nope'" in lines[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [("rules: [\n", "invalid YAML"), ("rules:\n  - id: a\n    id: b\n", "invalid YAML: duplicate key 'id'")],
    ids=["syntax", "duplicate-key"],
)
def test_a_yaml_error_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    """It reports a YAML syntax error or duplicate key with its file and line."""
    write_config(tmp_path)
    (tmp_path / "triggers.yaml").write_text(text)
    result = validate(tmp_path)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{tmp_path / 'triggers.yaml'}:")
    assert message in line


def test_a_missing_config_directory_is_one_line(tmp_path: Path) -> None:
    """It names the missing folder and the files it should hold, once."""
    result = validate(tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'nowhere'}: no such folder: give --config-dir the folder of "
        "events.yaml, triggers.yaml, campaigns.yaml"
    ]


def test_a_rule_that_can_never_match_is_a_warning_not_an_error(tmp_path: Path) -> None:
    """It warns at the comparison's line when a rule can never match (score 11 on a 0-10 scale),
    prints ok, and exits 0."""
    shutil.copytree(ROOT / "config", tmp_path, dirs_exist_ok=True)
    triggers = tmp_path / "triggers.yaml"
    triggers.write_text(triggers.read_text(encoding="utf-8").replace("gte: 9", "gte: 11"), encoding="utf-8")

    result = validate(tmp_path)

    assert result.exit_code == 0, result.output
    assert result.stdout == "ok\n"
    assert result.stderr.splitlines() == [
        f"{triggers}:{line_of(triggers, 'gte: 11')}: warning: rule 'nps_promoter' can never match: "
        "'score gte 11' is never true: nps_submitted's score is an integer from 0 to 10 (events.yaml)"
    ]


def test_warnings_come_with_the_errors(tmp_path: Path) -> None:
    """It prints a warning beside the errors of the same config, and exits 1 for the errors."""
    write_config(
        tmp_path,
        ("triggers.yaml", "      gte: 9\n", "      gte: 11\n"),
        ("triggers.yaml", "    event: ticket_resolved\n", "    event: ticket_closed\n"),
    )
    result = validate(tmp_path)
    assert result.exit_code == 1
    assert [": warning: " in line for line in result.stderr.splitlines()] == [True, False]
